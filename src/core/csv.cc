#include "core/csv.h"

namespace huibao {

CsvReader::CsvReader(std::string_view data) : data_(data) {
  // Skip a UTF-8 byte-order mark written by spreadsheet programs.
  if (data_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
}

bool CsvReader::next(std::vector<std::string_view>* fields, std::string* error) {
  fields->clear();
  unescaped_.clear();
  error->clear();
  const size_t n = data_.size();
  // Skip blank lines.
  while (pos_ < n && (data_[pos_] == '\n' || data_[pos_] == '\r')) {
    if (data_[pos_] == '\n') ++line_;
    ++pos_;
  }
  if (pos_ >= n) return false;
  record_line_ = line_;
  for (;;) {
    if (pos_ < n && data_[pos_] == '"') {
      ++pos_;
      size_t start = pos_;
      bool escaped = false;
      for (;;) {
        if (pos_ >= n) {
          *error = "unterminated quoted field";
          return true;
        }
        if (data_[pos_] == '"') {
          if (pos_ + 1 < n && data_[pos_ + 1] == '"') {
            escaped = true;
            pos_ += 2;
            continue;
          }
          break;
        }
        if (data_[pos_] == '\n') ++line_;
        ++pos_;
      }
      std::string_view raw = data_.substr(start, pos_ - start);
      ++pos_;  // closing quote
      if (escaped) {
        std::string s;
        for (size_t i = 0; i < raw.size(); ++i) {
          s += raw[i];
          if (raw[i] == '"') ++i;
        }
        unescaped_.push_back(std::move(s));
        fields->push_back(unescaped_.back());
      } else {
        fields->push_back(raw);
      }
      if (pos_ < n && data_[pos_] != ',' && data_[pos_] != '\n' && data_[pos_] != '\r') {
        *error = "text after a closing quote";
        while (pos_ < n && data_[pos_] != '\n') ++pos_;
        return true;
      }
    } else {
      size_t start = pos_;
      while (pos_ < n && data_[pos_] != ',' && data_[pos_] != '\n' && data_[pos_] != '\r') ++pos_;
      fields->push_back(data_.substr(start, pos_ - start));
    }
    if (pos_ < n && data_[pos_] == ',') {
      ++pos_;
      continue;
    }
    if (pos_ < n && data_[pos_] == '\r') ++pos_;
    if (pos_ < n && data_[pos_] == '\n') ++pos_, ++line_;
    return true;
  }
}

}  // namespace huibao
