// A small pool of store connections for the API's lookups, enrolment and
// imports (settlement goes through OnlineSettler, which has its own). Each
// connection is used by one thread at a time: acquire() blocks until one is
// free and the Lease gives it back.
#pragma once
#include <condition_variable>
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
  static Result<std::unique_ptr<DbPool>> open(const std::string& url, int size);

  class Lease {
   public:
    Lease(DbPool* pool, std::unique_ptr<store::Db> db) : pool_(pool), db_(std::move(db)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (db_) pool_->give_back(std::move(db_));
    }
    store::Db& operator*() { return *db_; }
    store::Db* operator->() { return db_.get(); }

   private:
    DbPool* pool_;
    std::unique_ptr<store::Db> db_;
  };
  Lease acquire();
  const std::string& url() const { return url_; }

 private:
  void give_back(std::unique_ptr<store::Db> db);
  std::string url_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<store::Db>> free_;
};

}  // namespace huibao::server
