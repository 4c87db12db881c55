#include "cli/cli_common.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

namespace huibao::cli {

void fail(const Status& s) {
  std::fprintf(stderr, "huibao: %s\n", s.to_string().c_str());
  int code = 2;
  switch (s.code()) {
    case Code::kIoError:
      code = 3;
      break;
    case Code::kStoreError:
    case Code::kStoreConstraint:
    case Code::kStoreBusy:
    case Code::kStoreSchema:
      code = 4;
      break;
    default:
      break;
  }
  throw CLI::RuntimeError(code);
}

std::string db_url(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("HUIBAO_DB"); env != nullptr && *env != '\0') return env;
  ::mkdir("data", 0755);
  return "sqlite:data/huibao.db";
}

std::unique_ptr<store::Db> open(const std::string& given) {
  Result<std::unique_ptr<store::Db>> db = store::open_db(db_url(given));
  if (!db.ok()) fail(db.status());
  return std::move(*db);
}

std::string default_actor() {
  if (const char* a = std::getenv("HUIBAO_ACTOR"); a != nullptr && *a != '\0') return a;
  if (const char* u = std::getenv("USER"); u != nullptr && *u != '\0') return u;
  return "cli";
}

}  // namespace huibao::cli
