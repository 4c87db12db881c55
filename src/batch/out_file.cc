#include "batch/out_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace huibao {

OutFile::~OutFile() {
  if (fd_ >= 0) ::close(fd_);
  std::free(stage_);
}

Status OutFile::fail(const std::string& what) {
  return Status(Code::kIoError, what + " '" + path_ + "': " + std::strerror(errno));
}

Status OutFile::open(const std::string& path) {
  path_ = path;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0644);
  direct_ = fd_ >= 0;
  if (fd_ < 0 && errno == EINVAL) fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd_ < 0) return fail("cannot write");
  struct stat st;
  if (direct_ && (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode))) {
    // A pipe or device: O_DIRECT means something else there (packet mode).
    if (::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_DIRECT) != 0) return fail("cannot write");
    direct_ = false;
  }
  stage_ = static_cast<char*>(std::aligned_alloc(kAlign, kStageBytes));
  if (stage_ == nullptr) return Status(Code::kIoError, "out of memory for the output buffer");
  return Status::Ok();
}

Status OutFile::write_fd(const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EINVAL && direct_) {
      // The file system took O_DIRECT at open but not for this write: go buffered.
      if (::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_DIRECT) != 0)
        return fail("write error on");
      direct_ = false;
      continue;
    }
    if (w < 0) return fail("write error on");
    p += w;
    n -= size_t(w);
  }
  return Status::Ok();
}

Status OutFile::flush_blocks() {
  const size_t whole = direct_ ? staged_ / kAlign * kAlign : staged_;
  if (Status s = write_fd(stage_, whole); !s.ok()) return s;
  std::memmove(stage_, stage_ + whole, staged_ - whole);
  staged_ -= whole;
  return Status::Ok();
}

Status OutFile::write(std::string_view bytes) {
  while (!bytes.empty()) {
    const size_t n = std::min(bytes.size(), kStageBytes - staged_);
    std::memcpy(stage_ + staged_, bytes.data(), n);
    staged_ += n;
    bytes.remove_prefix(n);
    if (staged_ == kStageBytes) {
      if (Status s = flush_blocks(); !s.ok()) return s;
    }
  }
  return Status::Ok();
}

Status OutFile::close() {
  Status s = flush_blocks();
  if (s.ok() && staged_ > 0) {
    // The tail is shorter than a block: write it through the page cache.
    if (::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_DIRECT) != 0) {
      s = fail("write error on");
    } else {
      direct_ = false;
      s = write_fd(stage_, staged_);
      staged_ = 0;
    }
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0 && s.ok()) s = fail("cannot close");
  return s;
}

}  // namespace huibao
