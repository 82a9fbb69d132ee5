// phial/error.hpp - the typed exceptions phial throws across its interface.
//
// Every failure a user can cause with bad input (a corrupt model file, malformed JSON, a cancelled
// request) is one of these, with a message that names the file / tensor / key and what was expected.
#pragma once
#include <stdexcept>
#include <string>

namespace phial {

// Base of everything phial throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A model file (GGUF, safetensors, config.json, tokenizer file) is malformed or unsupported.
class FormatError : public Error {
 public:
  using Error::Error;
};

// A well-formed file describes a model phial does not support (e.g. phi4flash, phi4mm LoRA).
class UnsupportedModelError : public FormatError {
 public:
  using FormatError::FormatError;
};

// An I/O operation failed (open, mmap, read, write).
class IoError : public Error {
 public:
  using Error::Error;
};

// A caller passed an invalid argument (bad option, out-of-range token id, capacity exceeded).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// A JSON schema or grammar could not be compiled.
class GrammarError : public Error {
 public:
  using Error::Error;
};

// Tool registration / invocation problems that are the programmer's fault (duplicate name, ...).
// Tool failures at run time are NOT thrown: they go back to the model as observations.
class ToolError : public Error {
 public:
  using Error::Error;
};

}  // namespace phial
