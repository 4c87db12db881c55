// What the store-backed commands share: how a failure becomes an exit code,
// which database --db means, and who the actor is.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "core/error.h"
#include "store/db.h"

namespace huibao::cli {

inline constexpr const char* kDbHelp =
    "database: sqlite:PATH or postgresql://... (default: $HUIBAO_DB, else sqlite:data/huibao.db)";

// Prints s and ends the command: exit 3 for I/O errors, 4 for store errors,
// 2 for everything else (invalid input).
[[noreturn]] void fail(const Status& s);
// The --db value, else $HUIBAO_DB, else sqlite:data/huibao.db (its data/
// directory created when missing).
std::string db_url(const std::string& given);
// Opens (and migrates) that database, or fails.
std::unique_ptr<store::Db> open(const std::string& given);
// $HUIBAO_ACTOR, else $USER, else "cli".
std::string default_actor();

}  // namespace huibao::cli
