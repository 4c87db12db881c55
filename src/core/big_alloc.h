// An allocator for the batch's large tables (records, payments, orderings):
// allocations of 4 MiB and more are mapped directly and marked for
// transparent huge pages, so filling a million-record table takes a few
// hundred page faults instead of tens of thousands. Smaller ones use new.
#pragma once
#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <string>
#include <vector>

namespace huibao {

inline constexpr size_t kBigAllocBytes = size_t(4) << 20;
inline constexpr size_t kHugePageBytes = size_t(2) << 20;

template <typename T>
struct BigAllocator {
  using value_type = T;
  BigAllocator() = default;
  template <typename U>
  BigAllocator(const BigAllocator<U>&) {}

  static size_t mapped_bytes(size_t n) {
    return (n * sizeof(T) + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  }
  T* allocate(size_t n) {
    if (n * sizeof(T) < kBigAllocBytes) return static_cast<T*>(::operator new(n * sizeof(T)));
    void* p = ::mmap(nullptr, mapped_bytes(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    ::madvise(p, mapped_bytes(n), MADV_HUGEPAGE);  // advisory: ignored where THP is off
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < kBigAllocBytes) {
      ::operator delete(p);
    } else {
      ::munmap(p, mapped_bytes(n));
    }
  }
  template <typename U>
  bool operator==(const BigAllocator<U>&) const {
    return true;
  }
};

template <typename T>
using BigVector = std::vector<T, BigAllocator<T>>;
using BigString = std::basic_string<char, std::char_traits<char>, BigAllocator<char>>;

// n bytes from the big allocator, left as they are (not zeroed: the first
// write to a page is its fault), freed with the buffer. Move-only.
class BigBuffer {
 public:
  BigBuffer() = default;
  explicit BigBuffer(size_t n) : p_(n > 0 ? BigAllocator<char>().allocate(n) : nullptr), n_(n) {}
  ~BigBuffer() { reset(); }
  BigBuffer(BigBuffer&& o) noexcept : p_(o.p_), n_(o.n_) {
    o.p_ = nullptr;
    o.n_ = 0;
  }
  BigBuffer& operator=(BigBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = o.p_;
      n_ = o.n_;
      o.p_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }
  BigBuffer(const BigBuffer&) = delete;
  BigBuffer& operator=(const BigBuffer&) = delete;
  char* data() { return p_; }
  const char* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  void reset() {
    if (p_ != nullptr) BigAllocator<char>().deallocate(p_, n_);
    p_ = nullptr;
    n_ = 0;
  }
  char* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace huibao
