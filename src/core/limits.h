// Every limit of huibao, named in one place. Each is enforced where input
// enters and tested on both sides (see limits_test.cc and the scenario files).
#pragma once
#include <cstddef>
#include <cstdint>

namespace huibao::limits {

// National interface amounts are N16,2: at most 14 integer digits and 2 decimals.
inline constexpr int64_t kAmountFenMax = 9'999'999'999'999'999;  // 99,999,999,999,999.99 yuan

// A plan's payment layers, shared deductible groups and shared cap groups.
inline constexpr size_t kLayersMax = 16;
inline constexpr size_t kDeductibleGroupsMax = 8;
inline constexpr size_t kCapGroupsMax = 8;
inline constexpr size_t kRulesPerLayerMax = 32;
inline constexpr size_t kSegmentsMax = 16;
inline constexpr size_t kProductsMax = 16;
inline constexpr size_t kBucketsMax = 8;  // item buckets such as special drugs

// Person categories on one roll row: each of the nine national categories
// (core/category.h) at most once.
inline constexpr size_t kCategoriesPerPersonMax = 9;
// Spans of categories in force during one plan year, as the stored roll
// keeps them (a category ended and begun again is two spans).
inline constexpr size_t kCategorySpansPerPersonMax = 16;

// Claim records.
inline constexpr size_t kClaimLineBytesMax = 1 << 20;  // one JSONL record
inline constexpr size_t kItemsPerClaimMax = 10'000;
inline constexpr size_t kSetlIdBytesMax = 64;
inline constexpr size_t kFieldBytesMax = 256;     // any other string field
inline constexpr size_t kPsnNoEchoBytesMax = 64;  // a longer psn_no is echoed as null
inline constexpr int kJsonDepthMax = 256;         // nesting of a claim line's JSON
inline constexpr uint32_t kRecordsPerBatchMax = 200'000'000;

// Rates are exact: parts per million of the base.
inline constexpr int64_t kRateScale = 1'000'000;

}  // namespace huibao::limits
