#include "server/db_pool.h"

namespace huibao::server {

Result<std::unique_ptr<DbPool>> DbPool::open(const std::string& url, int size,
                                             std::chrono::milliseconds wait) {
  std::unique_ptr<DbPool> pool(new DbPool());
  pool->url_ = url;
  pool->wait_ = wait;
  for (int i = 0; i < size; ++i) {
    Result<std::unique_ptr<store::Db>> db = store::open_db(url);
    if (!db.ok()) return db.status();
    pool->free_.push_back(std::move(*db));
  }
  return pool;
}

Result<DbPool::Lease> DbPool::acquire() {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, wait_, [&] { return !free_.empty(); }))
    return Status(Code::kUnavailable, "every store connection stayed busy for " +
                                          std::to_string(wait_.count()) + " ms; retry the request");
  std::unique_ptr<store::Db> db = std::move(free_.back());
  free_.pop_back();
  return Lease(this, std::move(db));
}

void DbPool::give_back(std::unique_ptr<store::Db> db) {
  // A connection handed back inside a transaction (a handler's early
  // return) is rolled back, so the next user starts clean.
  if (db->in_transaction()) (void)db->rollback();
  {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(db));
  }
  cv_.notify_one();
  if (on_release_) on_release_();
}

}  // namespace huibao::server
