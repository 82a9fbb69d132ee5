// phial/fwd.hpp - forward declarations of phial's main types, for headers that only pass them
// around. Includes nothing heavy.
#pragma once
#include <phial/config.hpp>

namespace phial {
class Error;
class FormatError;
struct ModelConfig;
struct ModelWeights;
struct TensorView;
class Evaluator;
class Model;
class Executor;
class KvCache;
class Tokenizer;
class StreamingDetokenizer;
class PromptBuilder;
class OutputParser;
class Sampler;
class Grammar;
class ToolRegistry;
class Agent;
}  // namespace phial
