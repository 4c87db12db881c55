// Settlement through the API: pre-settlement (2303), settlement (2304),
// reversal (2305), accident cases, stored settlements, and the national
// transaction envelope over the same operations. Claims go to OnlineSettler
// as the bytes received; the server writes nothing itself on the settling
// path (reads of stored settlements write their audit row).
#include <string>

#include <simdjson.h>

#include "server/claim_check.h"
#include "server/server_internal.h"
#include "service/audit.h"
#include "service/settle_service.h"
#include "store/migrate.h"

namespace huibao::server {
namespace {

const char* kJson = "application/json; charset=utf-8";

simdjson::ondemand::parser& result_parser() {
  thread_local simdjson::ondemand::parser parser;
  return parser;
}

bool query_flag(const httplib::Request& req, const char* name, bool fallback,
                std::optional<ApiError>* error) {
  if (!req.has_param(name)) return fallback;
  const std::string v = req.get_param_value(name);
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  *error = api_error(ApiCode::kInvalidValue, std::string(name) + " must be true or false");
  return fallback;
}

std::optional<ApiError> check_id(std::string_view id, std::string_view name) {
  if (id.empty() || id.size() > 64)
    return api_error(ApiCode::kInvalidValue, std::string(name) + " must be 1 to 64 characters");
  for (char ch : id) {
    if (ch <= ' ' || ch == 0x7f)
      return api_error(ApiCode::kInvalidValue,
                       std::string(name) + " must not hold spaces or control characters");
  }
  return std::nullopt;
}

// The claim answer of a refusal: the stable code, and what to fix.
ApiError refusal_error(const OnlineOutcome& o) {
  Status s(o.code, o.message.empty() ? std::string(code_name(o.code)) : o.message);
  return status_error(s);
}

}  // namespace

namespace {

// The answer built around the stored result's bytes, without re-encoding it:
// the hot path of every settlement. Only the layers are read (simdjson).
bool fast_output(const OnlineOutcome& o, const PlanInfo* info, std::string* out) {
  if (o.result_json.find("\"explain\"") != std::string::npos) return false;
  simdjson::padded_string padded(o.result_json);
  simdjson::ondemand::parser& parser = result_parser();
  simdjson::ondemand::document doc;
  simdjson::ondemand::object obj;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(obj)) return false;
  std::string_view setl_id_raw;
  std::vector<std::pair<std::string_view, std::string_view>> layers;  // id, raw amount
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    if (key == "setl_id") {
      if (field.value().raw_json_token().get(setl_id_raw)) return false;
    } else if (key == "layers") {
      simdjson::ondemand::object lo;
      if (field.value().get_object().get(lo)) return false;
      for (auto l : lo) {
        std::string_view id, amount;
        if (l.unescaped_key().get(id) || l.value().raw_json_token().get(amount)) return false;
        layers.emplace_back(id, amount);
      }
    }
  }
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.remove_suffix(1);
    return s;
  };
  out->reserve(o.result_json.size() * 2 + 256);
  *out += "{\"setl_id\":";
  *out += setl_id_raw.empty() ? std::string_view("null") : trim(setl_id_raw);
  *out += ",\"plan_id\":";
  *out += Json(o.plan_id).dump();
  *out += o.replayed ? ",\"replayed\":true" : ",\"replayed\":false";
  *out += ",\"setlinfo\":";
  *out += o.result_json;
  *out += ",\"setldetail\":[";
  bool first = true;
  auto push = [&](std::string_view id, std::string_view name, std::string_view amount) {
    if (!first) *out += ',';
    first = false;
    *out += "{\"fund_pay_type\":";
    *out += Json(std::string(id)).dump();
    *out += ",\"fund_pay_type_name\":";
    *out += Json(std::string(name)).dump();
    *out += ",\"fund_payamt\":";
    *out += trim(amount);
    *out += '}';
  };
  std::vector<bool> named(layers.size(), false);
  if (info != nullptr) {
    for (const auto& [id, name] : info->layer_names) {
      for (size_t i = 0; i < layers.size(); ++i) {
        if (layers[i].first == id) {
          push(id, name, layers[i].second);
          named[i] = true;
        }
      }
    }
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!named[i]) push(layers[i].first, layers[i].first, layers[i].second);
  }
  *out += "],\"explain\":";
  *out += o.explanation_json.empty() ? std::string("[]") : o.explanation_json;
  *out += '}';
  return true;
}

}  // namespace

std::string ApiServer::Impl::settlement_output(const OnlineOutcome& o, bool masked) {
  if (!masked) {
    std::string out;
    if (fast_output(o, plan_info(o.plan_id), &out)) return out;
  }
  Json result = Json::parse(o.result_json, nullptr, false);
  if (result.is_discarded() || !result.is_object()) result = Json::object();
  Json explain = Json::array();
  if (!o.explanation_json.empty()) {
    Json e = Json::parse(o.explanation_json, nullptr, false);
    if (!e.is_discarded()) explain = std::move(e);
  } else if (auto it = result.find("explain"); it != result.end()) {
    explain = *it;
  }
  result.erase("explain");
  if (masked && result.contains("psn_no") && result["psn_no"].is_string())
    result["psn_no"] = masked_psn(result["psn_no"].get<std::string>(), true);
  Json detail = Json::array();
  const PlanInfo* info = plan_info(o.plan_id);
  if (auto layers = result.find("layers"); layers != result.end() && layers->is_object()) {
    auto push = [&](const std::string& id, const std::string& name, const Json& amount) {
      detail.push_back(
          {{"fund_pay_type", id}, {"fund_pay_type_name", name}, {"fund_payamt", amount}});
    };
    if (info != nullptr) {
      for (const auto& [id, name] : info->layer_names) {
        if (auto a = layers->find(id); a != layers->end()) push(id, name, *a);
      }
    }
    for (const auto& [id, amount] : layers->items()) {  // layers the plan does not name (accident)
      bool named = false;
      if (info != nullptr) {
        for (const auto& ln : info->layer_names) named = named || ln.first == id;
      }
      if (!named) push(id, id, amount);
    }
  }
  Json out;
  out["setl_id"] = result.contains("setl_id") ? result["setl_id"] : Json();
  out["plan_id"] = o.plan_id;
  out["replayed"] = o.replayed;
  out["setlinfo"] = std::move(result);
  out["setldetail"] = std::move(detail);
  out["explain"] = std::move(explain);
  return out.dump();
}

Out ApiServer::Impl::op_settle(Call& c, std::string_view claim, std::string_view plan_id,
                               bool explain, bool commit, Action action,
                               std::span<const std::string_view> national_ignored) {
  ClaimFacts facts;
  if (auto e = check_claim(claim, &facts, national_ignored)) return Out::fail(*e);
  if (auto e = authorize(c, action)) return Out::fail(*e);
  const bool accident_claim = facts.kind == "accident";
  if (action == Action::kAccidentSubmit) {
    if (!accident_claim)
      return Out::fail(
          api_error(ApiCode::kInvalidValue, "an accident case has kind \"accident\" (or no kind)"));
  } else if (accident_claim) {
    return Out::fail(
        api_error(ApiCode::kForbidden, "accident claims are submitted at /api/v1/accident-cases"));
  }
  if (permission(c.who.role, action) == Scope::kOwn) {
    if (facts.fixmedins_code.empty())
      return Out::fail(
          api_error(ApiCode::kMissingField, "fixmedins_code is required: your institution's code"));
    if (facts.fixmedins_code != c.who.org_code)
      return Out::fail(api_error(
          ApiCode::kForbidden,
          "fixmedins_code is not the institution of this API key (" + c.who.org_code + ")"));
  }
  if (!med_type_allowed(c.who.role, facts.med_type))
    return Out::fail(
        api_error(ApiCode::kForbidden, "a pharmacy settles pharmacy purchases (med_type 41) only"));
  if (!plan_id.empty() && plan_info(plan_id) == nullptr)
    return Out::fail(
        api_error(ApiCode::kUnknownPlan,
                  "plan " + std::string(plan_id) + " is not served here; see /api/v1/plans"));
  // Without a plan_id the settler routes the claim: the plan whose region
  // holds the person's admdvs and whose period holds the claim's date
  // (several: malformed_record, name the plan_id).
  Result<OnlineOutcome> r = commit ? settler->settle(plan_id, claim, explain, c.actor())
                                   : settler->presettle(plan_id, claim, explain);
  if (!r.ok()) {
    if (r.status().code() >= Code::kStoreError || r.status().code() == Code::kIoError)
      log("error", "settlement failed",
          {{"error", r.status().to_string()}, {"request_id", c.request_id}});
    if (commit) metrics->settlement(r.status().code(), false);
    return Out::fail(status_error(r.status()));
  }
  if (commit) metrics->settlement(r->code, r->replayed);
  if (r->code != Code::kOk) return Out::fail(refusal_error(*r));
  // A presettlement shows the person's state (what is left of each layer):
  // that read is audited, once it is made and before it is answered.
  if (!commit && !facts.psn_no.empty()) {
    Result<DbPool::Lease> lease = pool->acquire();
    if (!lease.ok()) return Out::fail(status_error(lease.status()));
    DbPool::Lease& db = *lease;
    store::Tx tx(*db);
    Status s = tx.status();
    if (s.ok())
      s = append_audit(*db, c.actor(), "settlement.presettle", facts.psn_no,
                       Json({{"setl_id", facts.setl_id}}).dump());
    if (s.ok()) s = tx.commit();
    if (!s.ok()) {
      log("error", "audit write failed", {{"error", s.to_string()}, {"request_id", c.request_id}});
      return Out::fail(status_error(s));
    }
  }
  Out o;
  o.http = 200;
  o.replayed = r->replayed;
  o.body = settlement_output(*r, false);
  return o;
}

void ApiServer::Impl::h_presettle(Call& c) {
  if (auto e = require_json(c)) return reply_error(c, *e);
  std::optional<ApiError> err;
  const bool explain = query_flag(c.req, "explain", true, &err);
  if (err) return reply_error(c, *err);
  reply(c, op_settle(c, c.req.body, c.req.get_param_value("plan_id"), explain, false,
                     Action::kPresettle));
}

void ApiServer::Impl::h_settle(Call& c) {
  if (auto e = require_json(c)) return reply_error(c, *e);
  std::optional<ApiError> err;
  const bool explain = query_flag(c.req, "explain", true, &err);
  if (err) return reply_error(c, *err);
  reply(c,
        op_settle(c, c.req.body, c.req.get_param_value("plan_id"), explain, true, Action::kSettle));
}

Out ApiServer::Impl::op_reverse(Call& c, std::string_view setl_id, std::string_view reversal_id) {
  if (auto e = authorize(c, Action::kReverse)) return Out::fail(*e);
  if (auto e = check_id(setl_id, "setl_id")) return Out::fail(*e);
  // Without a reversal id: "<setl_id>-R", or for a setl_id too long for that
  // an id derived from it, so that a retry names the same reversal.
  std::string rid(reversal_id);
  if (rid.empty()) {
    rid = std::string(setl_id) + "-R";
    if (rid.size() + 4 > limits::kSetlIdBytesMax)
      rid = "R-" + claim_request_hash(setl_id);  // 2 + 32 bytes
  }
  if (auto e = check_id(rid, "reversal_id")) return Out::fail(*e);
  Result<StoredSettlement> found = settler->find_settlement(setl_id);
  if (!found.ok()) return Out::fail(status_error(found.status()));
  if (permission(c.who.role, Action::kReverse) == Scope::kOwn &&
      found->fixmedins_code != c.who.org_code)
    return Out::fail(api_error(
        ApiCode::kForbidden,
        "settlement " + std::string(setl_id) + " was not made by the institution of this API key"));
  if (found->kind != "settle")
    return Out::fail(
        api_error(ApiCode::kInvalidValue, std::string(setl_id) + " is a " + found->kind +
                                              ", not a settlement; only settlements are reversed"));
  Result<ReversalReport> r = settler->reverse(setl_id, rid, c.actor());
  if (!r.ok()) {
    if (r.status().code() >= Code::kStoreError || r.status().code() == Code::kIoError)
      log("error", "reversal failed",
          {{"error", r.status().to_string()}, {"request_id", c.request_id}});
    return Out::fail(status_error(r.status()));
  }
  Json j;
  j["setl_id"] = std::string(setl_id);
  j["reversal_id"] = r->reversal_id;
  j["psn_no"] = masked_psn(r->psn_no, c.masked());
  j["fund_pay_reversed"] = fen_to_string(r->fund_pay_reversed);
  j["hosp_part_reversed"] = fen_to_string(r->hosp_part_reversed);
  j["resettled"] = r->resettled;
  j["replayed"] = r->replayed;
  // An institution sees the adjustments of its own settlements; those of
  // the person's settlements elsewhere only as a count.
  const bool own_only = permission(c.who.role, Action::kReverse) == Scope::kOwn;
  Json adj = Json::array();
  size_t elsewhere = 0;
  for (const Adjustment& a : r->adjustments) {
    if (own_only && a.fixmedins_code != c.who.org_code) {
      ++elsewhere;
      continue;
    }
    adj.push_back({{"setl_id", a.setl_id},
                   {"adjusts", a.adjusts},
                   {"fund_pay_delta", fen_to_string(a.fund_pay_delta)},
                   {"hosp_part_delta", fen_to_string(a.hosp_part_delta)}});
  }
  j["adjustments"] = std::move(adj);
  j["adjustments_elsewhere"] = elsewhere;
  Out o;
  o.body = j.dump();
  return o;
}

void ApiServer::Impl::h_reverse(Call& c) {
  if (auto e = require_json(c)) return reply_error(c, *e);
  nlohmann::json body;
  if (auto e = parse_object(c.req.body, {"reversal_id"}, &body)) return reply_error(c, *e);
  std::string rid;
  if (auto e = get_string(body, "reversal_id", false, &rid, 64)) return reply_error(c, *e);
  reply(c, op_reverse(c, c.req.matches[1].str(), rid));
}

Out ApiServer::Impl::op_settlement_get(Call& c, std::string_view setl_id, bool accident) {
  if (auto e = check_id(setl_id, "setl_id")) return Out::fail(*e);
  Result<StoredSettlement> found = settler->find_settlement(setl_id);
  if (!found.ok()) return Out::fail(status_error(found.status()));
  const StoredSettlement& s = *found;
  const Action action = accident ? Action::kAccidentRead : Action::kSettlementRead;
  if (permission(c.who.role, action) == Scope::kOwn && s.fixmedins_code != c.who.org_code)
    return Out::fail(api_error(
        ApiCode::kForbidden,
        "settlement " + std::string(setl_id) + " was not made by the institution of this API key"));
  Json result = Json::parse(s.result_json, nullptr, false);
  if (result.is_discarded()) result = Json::object();
  const bool is_accident = result.contains("layers") && result["layers"].is_object() &&
                           result["layers"].contains("accident");
  if (accident && !is_accident)
    return Out::fail(api_error(ApiCode::kNotFound, "no accident case " + std::string(setl_id)));
  {
    Result<DbPool::Lease> lease = pool->acquire();
    if (!lease.ok()) return Out::fail(status_error(lease.status()));
    DbPool::Lease& db = *lease;
    store::Tx tx(*db);
    Status st = tx.status();
    if (st.ok())
      st = append_audit(*db, c.actor(), accident ? "accident.read" : "settlement.read", s.psn_no,
                        Json({{"setl_id", s.setl_id}}).dump());
    if (st.ok()) st = tx.commit();
    if (!st.ok()) return Out::fail(status_error(st));
  }
  const bool masked = c.masked();
  if (masked && result.contains("psn_no") && result["psn_no"].is_string())
    result["psn_no"] = masked_psn(result["psn_no"].get<std::string>(), true);
  Json j;
  j["setl_id"] = s.setl_id;
  j["kind"] = s.kind;
  j["ref_setl_id"] = s.ref_setl_id.empty() ? Json() : Json(s.ref_setl_id);
  j["psn_no"] = masked_psn(s.psn_no, masked);
  j["plan_id"] = s.plan_id;
  j["plan_year"] = s.plan_year;
  j["fixmedins_code"] = s.fixmedins_code;
  j["reversed"] = s.reversed;
  j["setlinfo"] = std::move(result);
  Out o;
  o.body = j.dump();
  return o;
}

void ApiServer::Impl::h_settlement_get(Call& c) {
  reply(c, op_settlement_get(c, c.req.matches[1].str(), false));
}

void ApiServer::Impl::h_accident_get(Call& c) {
  reply(c, op_settlement_get(c, c.req.matches[1].str(), true));
}

void ApiServer::Impl::h_accident_post(Call& c) {
  if (auto e = require_json(c)) return reply_error(c, *e);
  // An accident case is an accident claim: kind "accident" is implied.
  ClaimFacts facts;
  if (auto e = check_claim(c.req.body, &facts)) return reply_error(c, *e);
  std::string claim = c.req.body;
  if (facts.kind_null_at != std::string::npos) {
    claim.replace(facts.kind_null_at, 4, "\"accident\"");  // "kind": null
  } else if (facts.kind.empty()) {
    const size_t brace = claim.find('{');  // check_claim proved it is an object
    const size_t next = claim.find_first_not_of(" \t\r\n", brace + 1);
    const bool empty = next != std::string::npos && claim[next] == '}';
    claim.insert(brace + 1, empty ? "\"kind\":\"accident\"" : "\"kind\":\"accident\",");
  }
  Out o =
      op_settle(c, claim, c.req.get_param_value("plan_id"), true, true, Action::kAccidentSubmit);
  // 201: a case made now; a retry of it is answered 200 (replayed).
  if (!o.error && !o.replayed) o.http = 201;
  reply(c, o);
}

// ---- the national envelope ----

void ApiServer::Impl::h_transaction(Call& c) {
  if (auto e = require_json(c)) return reply_error(c, *e);
  Envelope env;
  const std::string received = store::utc_timestamp_now();
  Out o;
  if (auto e = parse_envelope(c.req.body, &env)) {
    o = Out::fail(*e);
  } else if (const EnvelopeFields* fields = envelope_fields(env.infno); fields == nullptr) {
    o = Out::fail(api_error(ApiCode::kUnknownInfno,
                            "infno " + clip_utf8(env.infno, 16) +
                                " is not served; this API answers 1101, 2303, 2304 and 2305"));
  } else if (env.infno == "2303" || env.infno == "2304") {
    const bool commit = env.infno == "2304";
    o = op_settle(c, env.data, c.req.get_param_value("plan_id"), true, commit,
                  commit ? Action::kSettle : Action::kPresettle, fields->ignored);
  } else {
    // 1101 and 2305: a small object of strings.
    nlohmann::json data;
    std::string psn, on, plan, setl_id, rid;
    std::optional<ApiError> e = parse_object(env.data, fields->used, fields->ignored, &data);
    if (env.infno == "1101") {
      // psn_no, or the national certificate fields holding the resident id.
      for (const char* k : {"psn_no", "certno", "mdtrt_cert_no"}) {
        std::string v;
        if (!e) e = get_string(data, k, false, &v);
        if (psn.empty()) psn = v;
      }
      if (!e) e = get_string(data, "on", false, &on, 32);
      if (!e) e = get_string(data, "plan_id", false, &plan, 64);
      if (!e) e = authorize(c, Action::kPersonRead);
      if (!e && psn.empty())
        e = api_error(ApiCode::kMissingField, "input.data.psn_no (or certno) is required");
      o = e ? Out::fail(*e) : op_person(c, psn, on, plan);
    } else {
      if (!e) e = get_string(data, "setl_id", false, &setl_id, 64);
      if (!e) e = get_string(data, "reversal_id", false, &rid, 64);
      if (!e && setl_id.empty())
        e = api_error(ApiCode::kMissingField, "input.data.setl_id is required");
      o = e ? Out::fail(*e) : op_reverse(c, setl_id, rid);
    }
  }
  // The national convention: HTTP 200, and infcode 0 (success) or -1.
  Json j;
  j["infcode"] = o.error ? -1 : 0;
  j["inf_refmsgid"] = env.msgid;
  j["refmsg_time"] = received;
  j["respond_time"] = store::utc_timestamp_now();
  if (o.error) {
    c.error_code = o.error->code;
    j["err_msg"] = o.error->message;
    j["err_code"] = o.error->code;
    j["output"] = Json::object();
  } else {
    j["err_msg"] = "";
    j["output"] = Json::parse(o.body, nullptr, false);
  }
  c.res.status = 200;
  // Messages may quote the client's text.
  c.res.set_content(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kJson);
}

}  // namespace huibao::server
