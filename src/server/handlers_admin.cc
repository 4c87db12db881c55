// The API's non-settlement work: person lookup with coverage and remaining
// benefits (1101), enrolment, renewal and cancellation, plans and drug
// lists, and the roll import upload. Each runs a service of src/service on a
// pooled connection; the services own their transactions and audit rows.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "server/server_internal.h"
#include "service/enrol_service.h"
#include "service/roll_service.h"

namespace huibao::server {
namespace {

const char* kJson = "application/json; charset=utf-8";

Json payers_json(const std::vector<PayerShare>& payers, bool masked) {
  Json out = Json::array();
  for (const PayerShare& p : payers) {
    out.push_back(
        {{"kind", payer_kind_name(p.kind)},
         {"ref", p.kind == PayerKind::kPersonalAccount ? masked_psn(p.ref, masked) : p.ref},
         {"amount", fen_to_string(p.amount_fen)}});
  }
  return out;
}

ApiError refusal(Refusal r, const std::string& message) {
  return ApiError{422, std::string(refusal_name(r)), message, ""};
}

}  // namespace

// ---- person lookup (1101) ----

Out ApiServer::Impl::op_person(Call& c, std::string_view psn_no, std::string_view on,
                               std::string_view plan_id) {
  if (auto e = check_psn_no(psn_no)) return Out::fail(*e);
  Date day;
  if (auto e = parse_day(on, "on", &day)) return Out::fail(*e);
  if (!plan_id.empty() && plan_info(plan_id) == nullptr)
    return Out::fail(
        api_error(ApiCode::kUnknownPlan, "plan " + std::string(plan_id) + " is not served here"));
  const bool masked = c.masked();
  PersonView view;
  {
    PersonShowOptions o;
    o.unmasked = !masked;
    o.actor = c.actor();
    o.settlements_max = 0;
    o.account_moves_max = 0;
    Result<DbPool::Lease> lease = pool->acquire();
    if (!lease.ok()) return Out::fail(status_error(lease.status()));
    DbPool::Lease& db = *lease;
    // Writes the audit row ('person.show'), found or not.
    Status s = show_person(*db, psn_no, o, &view);
    if (s.code() == Code::kUnknownPerson)
      return Out::fail(ApiError{404, "unknown_person",
                                "no person " + masked_psn(psn_no, masked) + " on the roll", ""});
    if (!s.ok()) return Out::fail(status_error(s));
  }
  BenefitsQuery q;
  q.psn_no = std::string(psn_no);
  q.on = day;
  q.plan_id = std::string(plan_id);
  Result<std::string> benefits = settler->benefits_json(q);
  Json b = Json::object();
  if (benefits.ok()) {
    b = Json::parse(*benefits, nullptr, false);
    if (b.is_discarded()) b = Json::object();
  } else if (benefits.status().code() != Code::kUnknownPerson) {
    // On the roll, but no plan served here covers that day: no benefits.
    return Out::fail(status_error(benefits.status()));
  }

  Json j;
  Json base;
  base["psn_no"] = view.psn_no;  // masked by show_person unless unmasked
  base["psn_name"] = view.psn_name;
  base["gend"] = view.gend;
  base["brdy"] = masked ? view.brdy.substr(0, 4) : view.brdy;
  base["admdvs"] = view.admdvs;
  base["insutype"] = view.insutype;
  base["psn_insu_stas"] = view.status;
  base["preexisting"] = view.preexisting;
  j["baseinfo"] = std::move(base);
  Json idet = Json::array();
  for (const auto& cat : view.categories) {
    idet.push_back(
        {{"psn_idet_type", cat.category}, {"begntime", cat.from_date}, {"endtime", cat.to_date}});
  }
  j["idetinfo"] = std::move(idet);
  Json insu = Json::array();
  for (const auto& e : view.enrollments) {
    insu.push_back({{"plan_id", e.plan_id},
                    {"product", e.product},
                    {"begin_date", e.begin_date},
                    {"end_date", e.end_date},
                    {"status", e.status},
                    {"source", e.source}});
  }
  j["insuinfo"] = std::move(insu);
  j["on"] = date_to_string(day);
  j["benefits"] = b.contains("plans") ? b["plans"] : Json::array();
  j["masked"] = masked;
  Out o;
  o.body = j.dump();
  return o;
}

void ApiServer::Impl::h_person(Call& c) {
  reply(c, op_person(c, c.req.matches[1].str(), c.req.get_param_value("on"),
                     c.req.get_param_value("plan_id")));
}

// ---- enrolment ----

void ApiServer::Impl::h_enrol(Call& c) {
  if (auto e = require_json(c)) return reply_error(c, *e);
  nlohmann::json body;
  if (auto e = parse_object(c.req.body,
                            {"plan_id", "psn_no", "product", "paid_on", "payers",
                             "employer_pays_rest", "renewal_consent"},
                            &body))
    return reply_error(c, *e);
  std::string plan_id, paid_on;
  EnrolRequest r;
  if (auto e = get_string(body, "plan_id", true, &plan_id)) return reply_error(c, *e);
  if (auto e = get_string(body, "psn_no", true, &r.psn_no)) return reply_error(c, *e);
  if (auto e = get_string(body, "product", false, &r.product)) return reply_error(c, *e);
  if (auto e = get_string(body, "paid_on", false, &paid_on)) return reply_error(c, *e);
  if (auto e = get_string(body, "employer_pays_rest", false, &r.employer_pays_rest))
    return reply_error(c, *e);
  if (auto e = get_bool(body, "renewal_consent", &r.renewal_consent)) return reply_error(c, *e);
  if (auto e = check_psn_no(r.psn_no)) return reply_error(c, *e);
  if (auto e = parse_day(paid_on, "paid_on", &r.paid_on)) return reply_error(c, *e);
  const PlanInfo* info = plan_info(plan_id);
  if (info == nullptr)
    return reply_error(c, api_error(ApiCode::kUnknownPlan, "plan " + plan_id + " is not served"));
  if (auto it = body.find("payers"); it != body.end() && !it->is_null()) {
    if (!it->is_array() || it->size() > 16)
      return reply_error(
          c, api_error(ApiCode::kWrongType, "payers must be an array of at most 16 payers"));
    for (const auto& p : *it) {
      // {"kind": "personal_account", "ref": "<holder psn_no>", "amount": "50.00"},
      // or the CLI's text form "personal_account:<holder>:50.00".
      std::string text;
      if (p.is_string()) {
        text = p.get<std::string>();
      } else if (p.is_object()) {
        for (const auto& [k, v] : p.items()) {
          if (k != "kind" && k != "ref" && k != "amount")
            return reply_error(
                c, api_error(ApiCode::kUnknownField,
                             "unknown payer field '" + clip_utf8(k, 64) + "' (kind, ref, amount)"));
        }
        std::string kind, ref, amount;
        if (auto e = get_string(p, "kind", true, &kind, 32)) return reply_error(c, *e);
        if (auto e = get_string(p, "ref", false, &ref, 64)) return reply_error(c, *e);
        // Amounts are decimal strings: a JSON number would pass through a
        // double on its way here.
        if (auto a = p.find("amount"); a != p.end() && a->is_number())
          return reply_error(c, api_error(ApiCode::kWrongType,
                                          "payers[].amount must be a string of yuan such as "
                                          "\"12.34\", not a JSON number"));
        if (auto e = get_string(p, "amount", true, &amount, 32)) return reply_error(c, *e);
        text = kind + (ref.empty() ? "" : ":" + ref) + ":" + amount;
      } else {
        return reply_error(
            c, api_error(ApiCode::kWrongType, "a payer is {\"kind\", \"ref\", \"amount\"}"));
      }
      PayerShare share;
      std::string error;
      if (!parse_payer(text, &share, &error))
        return reply_error(c, refusal(Refusal::kBadPayer, error));
      r.payers.push_back(std::move(share));
    }
  }
  r.actor = c.actor();
  EnrolReceipt receipt;
  {
    Result<DbPool::Lease> lease = pool->acquire();
    if (!lease.ok()) return reply_error(c, status_error(lease.status()));
    DbPool::Lease& db = *lease;
    if (Status s = enrol_voluntary(*db, info->plan->plan, info->plan->text, r, &receipt); !s.ok())
      return reply_error(c, status_error(s));
  }
  if (receipt.refusal != Refusal::kNone)
    return reply_error(c, refusal(receipt.refusal, receipt.message));
  Json j;
  j["enrollment_id"] = receipt.enrollment_id;
  j["plan_id"] = plan_id;
  j["psn_no"] = masked_psn(r.psn_no, c.masked());
  j["product"] = receipt.product;
  j["begin_date"] = date_to_string(receipt.begin);
  j["end_date"] = date_to_string(receipt.end);
  j["prior_years"] = receipt.prior_years;
  j["premium"] = fen_to_string(receipt.premium_fen);
  j["payers"] = payers_json(receipt.payers, c.masked());
  c.res.status = 201;
  c.res.set_content(j.dump(), kJson);
}

void ApiServer::Impl::h_renew(Call& c) {
  if (auto e = require_json(c)) return reply_error(c, *e);
  nlohmann::json body;
  if (auto e = parse_object(c.req.body, {"from_plan_id", "to_plan_id", "on"}, &body))
    return reply_error(c, *e);
  std::string from_id, to_id, on;
  if (auto e = get_string(body, "from_plan_id", true, &from_id)) return reply_error(c, *e);
  if (auto e = get_string(body, "to_plan_id", true, &to_id)) return reply_error(c, *e);
  if (auto e = get_string(body, "on", false, &on)) return reply_error(c, *e);
  RenewOptions o;
  if (auto e = parse_day(on, "on", &o.on)) return reply_error(c, *e);
  const PlanInfo* from = plan_info(from_id);
  const PlanInfo* to = plan_info(to_id);
  if (from == nullptr || to == nullptr)
    return reply_error(c,
                       api_error(ApiCode::kUnknownPlan,
                                 "plan " + (from == nullptr ? from_id : to_id) + " is not served"));
  o.actor = c.actor();
  RenewReport report;
  {
    Result<DbPool::Lease> lease = pool->acquire();
    if (!lease.ok()) return reply_error(c, status_error(lease.status()));
    DbPool::Lease& db = *lease;
    if (Status s =
            renew_enrolments(*db, from->plan->plan, to->plan->plan, to->plan->text, o, &report);
        !s.ok())
      return reply_error(c, status_error(s));
  }
  auto items = [&](const std::vector<RenewReport::Item>& list) {
    Json out = Json::array();
    for (const RenewReport::Item& i : list) {
      Json x{{"psn_no", masked_psn(i.psn_no, c.masked())},
             {"product", i.product},
             {"from_enrollment_id", i.from_enrollment_id}};
      if (i.enrollment_id != 0) x["enrollment_id"] = i.enrollment_id;
      if (i.refusal != Refusal::kNone) {
        x["code"] = refusal_name(i.refusal);
        x["message"] = i.message;
      } else {
        x["payers"] = payers_json(i.payers, c.masked());
      }
      out.push_back(std::move(x));
    }
    return out;
  };
  Json j;
  j["renewed"] = items(report.renewed);
  j["skipped"] = items(report.skipped);
  c.res.set_content(j.dump(), kJson);
}

void ApiServer::Impl::h_cancel(Call& c) {
  if (auto e = require_json(c)) return reply_error(c, *e);
  nlohmann::json body;
  if (auto e = parse_object(c.req.body, {"plan_id", "psn_no", "product", "on"}, &body))
    return reply_error(c, *e);
  std::string plan_id, on;
  CancelRequest r;
  if (auto e = get_string(body, "plan_id", true, &plan_id)) return reply_error(c, *e);
  if (auto e = get_string(body, "psn_no", true, &r.psn_no)) return reply_error(c, *e);
  if (auto e = get_string(body, "product", false, &r.product)) return reply_error(c, *e);
  if (auto e = get_string(body, "on", false, &on)) return reply_error(c, *e);
  if (auto e = check_psn_no(r.psn_no)) return reply_error(c, *e);
  if (auto e = parse_day(on, "on", &r.on)) return reply_error(c, *e);
  const PlanInfo* info = plan_info(plan_id);
  if (info == nullptr)
    return reply_error(c, api_error(ApiCode::kUnknownPlan, "plan " + plan_id + " is not served"));
  r.actor = c.actor();
  CancelReceipt receipt;
  {
    Result<DbPool::Lease> lease = pool->acquire();
    if (!lease.ok()) return reply_error(c, status_error(lease.status()));
    DbPool::Lease& db = *lease;
    if (Status s = cancel_enrolment(*db, info->plan->plan, r, &receipt); !s.ok())
      return reply_error(c, status_error(s));
  }
  if (receipt.refusal != Refusal::kNone)
    return reply_error(c, refusal(receipt.refusal, receipt.message));
  Json j;
  j["enrollment_id"] = receipt.enrollment_id;
  j["psn_no"] = masked_psn(r.psn_no, c.masked());
  j["before_cover"] = receipt.before_cover;
  j["begin_date"] = date_to_string(receipt.begin);
  j["end_date"] = date_to_string(receipt.end);
  j["refunded"] = fen_to_string(receipt.refunded_fen);
  j["refunds"] = payers_json(receipt.refunds, c.masked());
  c.res.set_content(j.dump(), kJson);
}

// ---- plans ----

void ApiServer::Impl::h_plans(Call& c) {
  c.res.set_content(plans_json, kJson);
}

void ApiServer::Impl::h_drug_lists(Call& c) {
  const PlanInfo* info = plan_info(c.req.matches[1].str());
  if (info == nullptr)
    return reply_error(
        c, api_error(ApiCode::kUnknownPlan, "no such plan is served; see /api/v1/plans"));
  c.res.set_content(info->drug_lists_json, kJson);
}

// ---- roll import upload ----

namespace {

// A scratch directory removed with its files when the guard goes.
struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "huibao-upload-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

Json counts_json(const ImportCounts& n) {
  return {{"rows", n.rows}, {"added", n.added}, {"changed", n.changed}, {"unchanged", n.unchanged}};
}

}  // namespace

void ApiServer::Impl::h_roll_import(Call& c) {
  // persons.csv as the body (Content-Type text/csv), or multipart/form-data
  // with the parts persons, relations and accounts. The body is streamed to
  // scratch files (c.reader), never held in memory; check_before_body has
  // refused a declared length over max_upload_bytes.
  const std::string type = c.req.get_header_value("Content-Type");
  const bool multipart = type.rfind("multipart/form-data", 0) == 0;
  if (!multipart && type.rfind("text/csv", 0) != 0 && type.rfind("text/plain", 0) != 0)
    return reply_error(c, api_error(ApiCode::kUnsupportedMediaType,
                                    "send persons.csv as text/csv, or multipart/form-data with "
                                    "persons, relations and accounts parts"));
  std::optional<ApiError> err;
  auto flag = [&](const char* name) {
    if (!c.req.has_param(name)) return false;
    const std::string v = c.req.get_param_value(name);
    if (v == "true" || v == "1") return true;
    if (v != "false" && v != "0")
      err = api_error(ApiCode::kInvalidValue, std::string(name) + " must be true or false");
    return false;
  };
  RollImportOptions o;
  o.dry_run = flag("dry_run");
  o.full = flag("full");
  if (err) return reply_error(c, *err);
  if (auto e = parse_day(c.req.get_param_value("as_of"), "as_of", &o.as_of))
    return reply_error(c, *e);
  ScratchDir dir;
  if (dir.path.empty())
    return reply_error(c, api_error(ApiCode::kInternal, "no scratch space for the upload"));

  // The parts, each to its file; a refusal met while reading stops the read.
  std::optional<ApiError> stop;
  std::set<std::string> parts;
  std::ofstream out;
  size_t total_bytes = 0;
  auto open_part = [&](const std::string& name) {
    if (name != "persons" && name != "relations" && name != "accounts") {
      stop = api_error(ApiCode::kUnknownField,
                       "unknown part '" + clip_utf8(name, 64) + "' (persons, relations, accounts)");
      return false;
    }
    if (!parts.insert(name).second) {
      stop = api_error(ApiCode::kInvalidValue, "the " + name + " part is given twice");
      return false;
    }
    out.close();
    out.open(dir.path / (name + ".csv"), std::ios::binary);
    if (!out) stop = api_error(ApiCode::kInternal, "the upload could not be stored");
    return bool(out);
  };
  auto receive = [&](const char* data, size_t n) {
    total_bytes += n;
    if (total_bytes > config.max_upload_bytes) {
      stop = api_error(
          ApiCode::kPayloadTooLarge,
          "the upload is larger than " + std::to_string(config.max_upload_bytes) + " bytes");
      return false;
    }
    out.write(data, std::streamsize(n));
    if (!out) stop = api_error(ApiCode::kInternal, "the upload could not be stored");
    return bool(out);
  };
  bool read = false;
  if (multipart) {
    read = (*c.reader)([&](const httplib::MultipartFormData& part) { return open_part(part.name); },
                       receive);
  } else {
    read = open_part("persons") && (*c.reader)(receive);
  }
  out.close();
  if (!read || stop || !out) {
    // The rest of the body is unread: answer and close the connection.
    const ApiError e =
        stop ? *stop : api_error(ApiCode::kBadRequest, "the upload could not be read");
    c.error_code = e.code;
    return answer_and_close(c.res, e);
  }
  c.body_read = true;
  if (!parts.count("persons"))
    return reply_error(c, api_error(ApiCode::kMissingField, "the persons part is required"));
  o.persons_path = (dir.path / "persons.csv").string();
  if (parts.count("relations")) o.relations_path = (dir.path / "relations.csv").string();
  if (parts.count("accounts")) o.accounts_path = (dir.path / "accounts.csv").string();
  o.actor = c.actor();
  ImportReport report;
  Status s;
  {
    Result<DbPool::Lease> lease = pool->acquire();
    if (!lease.ok()) return reply_error(c, status_error(lease.status()));
    DbPool::Lease& db = *lease;
    s = import_roll(*db, o, &report);
  }
  if (!s.ok() && s.code() != Code::kRollInvalid) return reply_error(c, status_error(s));
  Json j;
  if (!s.ok()) {
    j["code"] = "roll_invalid";
    j["message"] = s.message();
  }
  j["committed"] = report.committed;
  j["dry_run"] = report.dry_run;
  j["full"] = report.full;
  j["as_of"] = date_to_string(report.as_of);
  j["persons"] = counts_json(report.persons);
  j["moved_out"] = report.moved_out;
  j["relations"] = counts_json(report.relations);
  j["accounts"] = counts_json(report.accounts);
  Json changes = Json::array();
  for (const ImportPersonChange& ch : report.changes)
    changes.push_back({{"psn_no", masked_psn(ch.psn_no, c.masked())}, {"fields", ch.fields}});
  j["changes"] = std::move(changes);
  j["error_count"] = report.error_count;
  Json errors = Json::array();
  for (const ImportRowError& e : report.errors)
    errors.push_back({{"file", std::filesystem::path(e.file).filename().string()},
                      {"line", e.line},
                      {"message", e.message}});
  j["errors"] = std::move(errors);
  c.res.status = s.ok() ? 200 : 422;
  if (!s.ok()) c.error_code = "roll_invalid";
  // Row errors quote the uploaded text, which need not be UTF-8.
  c.res.set_content(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kJson);
}

}  // namespace huibao::server
