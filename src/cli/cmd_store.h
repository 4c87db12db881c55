// The store's commands: `db init|migrate`, `roll import|export`,
// `settlements export` and `person show`, each with `--db URL`.
#pragma once
#include <CLI/CLI.hpp>

namespace huibao::cli {

// Adds the subcommands to app. Each runs from its CLI11 callback and ends a
// failed run with CLI::RuntimeError(exit code): 2 invalid input, 3 I/O error,
// 4 store error.
void add_store_commands(CLI::App& app);

}  // namespace huibao::cli
