#include "cli/cmd_store.h"

#include "cli/cli_common.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "service/roll_service.h"
#include "store/db.h"
#include "store/migrate.h"

namespace huibao::cli {
namespace {

constexpr const char* kExitCodes =
    "Exit codes: 0 done, 2 invalid input (nothing written), 3 I/O error, 4 store error.";

// postgresql://user:secret@host/db -> postgresql://user:***@host/db
std::string redacted(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  const size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

// An export's file name must say its format.
void check_out(const std::string& path) {
  TableFormat f;
  if (!table_format_of(path, &f))
    fail(Status(Code::kRollInvalid, "--out '" + path + "' must end in .csv or .xlsx"));
}

struct Common {
  std::string db;
  std::string actor = default_actor();
};

void add_common(CLI::App* cmd, Common* c, bool actor = true) {
  cmd->add_option("--db", c->db, kDbHelp);
  if (actor) {
    cmd->add_option("--actor", c->actor, "who runs this, for the audit log ($HUIBAO_ACTOR, $USER)")
        ->capture_default_str();
  }
}

void add_db(CLI::App& app) {
  auto* db = app.add_subcommand("db", "create or migrate the platform's database");
  db->require_subcommand(1);
  auto common = std::make_shared<Common>();
  auto* init = db->add_subcommand("init", "create the database (if needed) and apply migrations");
  add_common(init, common.get(), false);
  init->footer(kExitCodes);
  init->callback([common] {
    const std::string url = db_url(common->db);
    std::unique_ptr<store::Db> d = open(common->db);
    Result<int> v = store::schema_version(*d);
    if (!v.ok()) fail(v.status());
    std::printf("%s: %s database ready, schema version %d\n", redacted(url).c_str(),
                std::string(d->dialect().name).c_str(), *v);
  });
  auto* migrate = db->add_subcommand("migrate", "apply the migrations this binary has");
  add_common(migrate, common.get(), false);
  migrate->footer(kExitCodes);
  migrate->callback([common] {
    const std::string url = db_url(common->db);
    Result<std::unique_ptr<store::Db>> d = store::connect_db(url);
    if (!d.ok()) fail(d.status());
    Result<int> before = store::schema_version(**d);
    if (!before.ok()) fail(before.status());
    if (Status s = store::migrate(**d); !s.ok()) fail(s);
    Result<int> after = store::schema_version(**d);
    if (!after.ok()) fail(after.status());
    if (*before == *after) {
      std::printf("%s: schema version %d, nothing to apply\n", redacted(url).c_str(), *after);
    } else {
      std::printf("%s: schema version %d -> %d\n", redacted(url).c_str(), *before, *after);
    }
  });
}

void add_roll(CLI::App& app) {
  auto* roll = app.add_subcommand("roll", "import or export the roll");
  roll->require_subcommand(1);

  struct Import : Common {
    RollImportOptions o;
    std::string as_of;
  };
  auto im = std::make_shared<Import>();
  auto* imp = roll->add_subcommand(
      "import",
      "import persons.csv (DOMAIN.md §6), and optionally relations.csv "
      "(psn_no,rel_psn_no,relation) and accounts.csv (psn_no,balance), all or nothing");
  add_common(imp, im.get());
  imp->add_option("--persons", im->o.persons_path, "persons.csv")->required();
  imp->add_option("--relations", im->o.relations_path, "relations.csv");
  imp->add_option("--accounts", im->o.accounts_path, "accounts.csv (personal-account balances)");
  imp->add_flag("--dry-run", im->o.dry_run, "check and report what would change; write nothing");
  imp->add_flag("--full", im->o.full,
                "the file is the whole roll: active persons absent from it move out");
  imp->add_option("--as-of", im->as_of, "the date the file's state takes effect (default: today)");
  imp->footer(kExitCodes);
  imp->callback([im] {
    im->o.actor = im->actor;
    if (im->as_of.empty()) {
      im->o.as_of = today_local();
    } else if (!parse_date(im->as_of, &im->o.as_of)) {
      fail(Status(Code::kRollInvalid, "--as-of '" + im->as_of + "' must be a date YYYY-MM-DD"));
    }
    std::unique_ptr<store::Db> d = open(im->db);
    ImportReport report;
    Status s = import_roll(*d, im->o, &report);
    if (s.code() != Code::kIoError) std::fputs(report.to_text().c_str(), stdout);
    std::fflush(stdout);
    if (!s.ok()) fail(s);
  });

  struct Export : Common {
    RollExportOptions o;
  };
  auto ex = std::make_shared<Export>();
  auto* exp = roll->add_subcommand(
      "export", "write the roll as persons.csv (or .xlsx, with a status column); nothing masked");
  add_common(exp, ex.get());
  exp->add_option("--out", ex->o.out_path, "output file, .csv or .xlsx")->required();
  exp->add_flag("--all", ex->o.include_inactive, "also persons moved out or deceased");
  exp->footer(kExitCodes);
  exp->callback([ex] {
    ex->o.actor = ex->actor;
    check_out(ex->o.out_path);
    std::unique_ptr<store::Db> d = open(ex->db);
    ExportReport report;
    if (Status s = export_roll(*d, ex->o, &report); !s.ok()) fail(s);
    std::printf("wrote %lld persons to %s\n", (long long)report.rows, ex->o.out_path.c_str());
  });
}

void add_settlements(CLI::App& app) {
  auto* st = app.add_subcommand("settlements", "stored settlements");
  st->require_subcommand(1);
  struct Export : Common {
    SettlementExportOptions o;
  };
  auto ex = std::make_shared<Export>();
  auto* exp = st->add_subcommand(
      "export", "write settlements with one column per layer that paid, to .csv or .xlsx");
  add_common(exp, ex.get());
  exp->add_option("--out", ex->o.out_path, "output file, .csv or .xlsx")->required();
  exp->add_option("--plan", ex->o.plan_id, "only this plan id");
  exp->add_option("--year", ex->o.year, "only this plan year")->check(CLI::Range(1900, 9999));
  exp->footer(kExitCodes);
  exp->callback([ex] {
    ex->o.actor = ex->actor;
    check_out(ex->o.out_path);
    std::unique_ptr<store::Db> d = open(ex->db);
    ExportReport report;
    if (Status s = export_settlements(*d, ex->o, &report); !s.ok()) fail(s);
    std::printf("wrote %lld settlements (%zu layer columns) to %s\n", (long long)report.rows,
                report.layers.size(), ex->o.out_path.c_str());
  });
}

void add_person(CLI::App& app) {
  auto* person = app.add_subcommand("person", "one person of the roll");
  person->require_subcommand(1);
  struct Show : Common {
    std::string psn_no;
    PersonShowOptions o;
    bool json = false;
  };
  auto sh = std::make_shared<Show>();
  auto* show = person->add_subcommand(
      "show",
      "everything stored about a person; resident ids and names masked unless --unmasked "
      "(every call is written to the audit log)");
  add_common(show, sh.get());
  show->add_option("psn_no", sh->psn_no, "the person's resident id")->required();
  show->add_flag("--unmasked", sh->o.unmasked, "show resident ids and names in full");
  show->add_flag("--json", sh->json, "print JSON");
  show->footer(kExitCodes);
  show->callback([sh] {
    sh->o.actor = sh->actor;
    std::unique_ptr<store::Db> d = open(sh->db);
    PersonView v;
    if (Status s = show_person(*d, sh->psn_no, sh->o, &v); !s.ok()) fail(s);
    std::fputs(sh->json ? v.to_json().c_str() : v.to_text().c_str(), stdout);
  });
}

}  // namespace

void add_store_commands(CLI::App& app) {
  add_db(app);
  add_roll(app);
  add_settlements(app);
  add_person(app);
}

}  // namespace huibao::cli
