// `huibao enrol auto|add|import|renew|cancel`: enrolment against the store
// (service/enrol_service.h), each with `--db URL`.
#pragma once
#include <CLI/CLI.hpp>

namespace huibao::cli {

// Adds `enrol` and its subcommands to app. Each runs from its CLI11 callback
// and ends a failed run with CLI::RuntimeError(exit code): 2 invalid input or
// a refused enrolment, 3 I/O error, 4 store error.
void add_enrol_commands(CLI::App& app);

}  // namespace huibao::cli
