// A small pool of store connections for the API's lookups, enrolment and
// imports (settlement goes through OnlineSettler, which has its own). Each
// connection is used by one thread at a time: acquire() waits for a free one
// at most `wait` (then kUnavailable: the caller answers 503, the client
// retries) and the Lease gives it back.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "store/db.h"

namespace huibao::server {

class DbPool {
 public:
  // Opens (and migrates) `size` connections to url.
  static Result<std::unique_ptr<DbPool>> open(const std::string& url, int size,
                                              std::chrono::milliseconds wait);

  class Lease {
   public:
    Lease() = default;
    Lease(DbPool* pool, std::unique_ptr<store::Db> db) : pool_(pool), db_(std::move(db)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&& other) noexcept {
      if (this != &other) {
        if (db_) pool_->give_back(std::move(db_));
        pool_ = other.pool_;
        db_ = std::move(other.db_);
      }
      return *this;
    }
    ~Lease() {
      if (db_) pool_->give_back(std::move(db_));
    }
    store::Db& operator*() { return *db_; }
    store::Db* operator->() { return db_.get(); }

   private:
    DbPool* pool_ = nullptr;
    std::unique_ptr<store::Db> db_;
  };
  // A free connection, waiting at most the pool's wait; kUnavailable when
  // every connection stayed busy that long.
  Result<Lease> acquire();
  const std::string& url() const { return url_; }
  // Runs after each connection is given back, on the thread that gave it
  // back (the server waits there until what the handler read is durable).
  void on_release(std::function<void()> fn) { on_release_ = std::move(fn); }

 private:
  std::function<void()> on_release_;
  void give_back(std::unique_ptr<store::Db> db);
  std::string url_;
  std::chrono::milliseconds wait_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<store::Db>> free_;
};

}  // namespace huibao::server
