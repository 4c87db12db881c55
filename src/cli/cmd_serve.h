// `huibao serve` (the HTTP API) and `huibao apikey create|list|revoke` (its
// keys), each with `--db URL`.
#pragma once
#include <CLI/CLI.hpp>

namespace huibao::cli {

// Adds `serve` and `apikey` to app. Failures end with CLI::RuntimeError(exit
// code): 2 invalid configuration or input, 3 I/O error (e.g. the port is
// taken), 4 store error.
void add_serve_commands(CLI::App& app);

}  // namespace huibao::cli
