// The results file. Large outputs are written with O_DIRECT where the file
// system allows it: the bytes go from our staging buffer to the device
// instead of being copied into freshly allocated page-cache pages, which on
// a busy or virtualised machine is the slowest part of writing hundreds of
// megabytes. Where O_DIRECT is refused (tmpfs, some network file systems),
// or for the last partial block, the file is written through the page cache.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "core/big_alloc.h"
#include "core/error.h"

namespace huibao {

class OutFile {
 public:
  OutFile() = default;
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;
  ~OutFile();

  Status open(const std::string& path);
  Status write(std::string_view bytes);
  Status close();  // writes what is staged; the file is complete only when this succeeds
  bool direct() const { return direct_; }

  static constexpr size_t kAlign = 4096;          // O_DIRECT block and buffer alignment
  static constexpr size_t kStageBytes = 4 << 20;  // bytes per direct write

 private:
  Status flush_blocks();  // writes the whole blocks staged
  Status write_fd(const char* p, size_t n);
  Status fail(const std::string& what);

  std::string path_;
  int fd_ = -1;
  bool direct_ = false;
  char* stage_ = nullptr;  // kStageBytes, kAlign-aligned
  size_t staged_ = 0;
};

}  // namespace huibao
