// `huibao books ...` (the fund books: post, pay, cost, transfer, carry-over,
// reverse, year-end, balances, check), `huibao report ...` (the supervision
// reports as JSON, CSV, XLSX and SVG charts) and `huibao population import`
// (official basic-insurance population figures), each with `--db URL`.
#pragma once
#include <CLI/CLI.hpp>

namespace huibao::cli {

// Adds the subcommands to app. Each runs from its CLI11 callback and ends a
// failed run with CLI::RuntimeError(exit code): 2 invalid input or a refused
// entry, 3 I/O error, 4 store error, 5 a check found the books or the
// reports not reconciling.
void add_books_commands(CLI::App& app);

}  // namespace huibao::cli
