// Human-readable lines that explain every amount of a settlement: per layer
// its base, deductible, rate or segments, caps and what it paid.
#pragma once
#include <string>
#include <vector>

#include "settle/engine.h"

namespace huibao {

void explain_medical(const Plan& plan, const MedicalClaim& claim, const MedicalResult& result,
                     const LayerTrace* trace, std::vector<std::string>* lines);

void explain_accident(const Plan& plan, const AccidentClaim& claim, const AccidentResult& result,
                      std::vector<std::string>* lines);

}  // namespace huibao
