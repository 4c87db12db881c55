// A small RFC 4180 reader over an in-memory buffer: fields separated by
// commas, optionally quoted with "" as an escaped quote; lines end with LF or
// CR LF. It never allocates per field unless a field holds escaped quotes.
#pragma once
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace huibao {

class CsvReader {
 public:
  explicit CsvReader(std::string_view data);

  // Reads the next record into fields; false at end of input. Blank lines are
  // skipped. On a malformed record (unterminated quote, text after a closing
  // quote) returns true and sets *error.
  bool next(std::vector<std::string_view>* fields, std::string* error);
  // 1-based line number where the last record started.
  size_t line() const { return record_line_; }
  // The byte offset the next call to next() reads from, and a return to an
  // offset taken earlier (a second pass over chosen records); line() then
  // counts on from `line`.
  size_t position() const { return pos_; }
  void seek(size_t position, size_t line) {
    pos_ = position;
    line_ = line;
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  size_t line_ = 1;
  size_t record_line_ = 0;
  std::deque<std::string> unescaped_;  // stable storage for fields with "" escapes
};

}  // namespace huibao
