// The audit log (table audit_log): who did what to or with personal data, in
// order. Every service operation that changes or reads personal data appends
// one row in its own transaction.
#pragma once
#include <string_view>

#include "core/error.h"
#include "store/db.h"

namespace huibao {

// Appends one audit_log row. Call inside a write transaction (the row's seq
// comes from store::allocate_ids). psn_no "" is stored as NULL; detail is
// usually a small JSON object.
Status append_audit(store::Db& db, std::string_view actor, std::string_view action,
                    std::string_view psn_no, std::string_view detail);

}  // namespace huibao
