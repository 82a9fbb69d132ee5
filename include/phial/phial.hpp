// phial/phial.hpp - the umbrella header: everything phial offers.
//
// Layers (each folder knows only the ones above it):
//   model/      model files (GGUF, safetensors), ModelConfig, weights, the forward pass
//   ops/        kernels: quantization formats, GEMV/GEMM, norms, RoPE, attention
//   backend/    CPU feature detection, SIMD dispatch, the thread pool
//   tokenizer/  byte-level BPE for the Phi-4 vocabularies, streaming detokenizer
//   chat/       prompt rendering per family, streaming parser of model output
//   sample/     sampler chain, JSON-Schema grammars, token masks
//   agent/      tools, the async agent loop, sessions
#pragma once

#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/version.hpp>

// model files and configs
#include <phial/model/config.hpp>
#include <phial/model/evaluator.hpp>
#include <phial/model/tensor.hpp>
#include <phial/model/weights.hpp>
// [model-files]
#include <phial/model/convert.hpp>
#include <phial/model/model.hpp>
#include <phial/ops/quant.hpp>
// [executor]
#include <phial/model/executor.hpp>
#include <phial/backend/cpu.hpp>
#include <phial/backend/thread_pool.hpp>
#include <phial/ops/matmul.hpp>
// [tokenizer]
#include <phial/tokenizer/detokenizer.hpp>
// [chat]
#include <phial/chat/prompt.hpp>
#include <phial/chat/output_parser.hpp>
// [sample]
#include <phial/sample/sampler.hpp>
#include <phial/sample/grammar.hpp>
#include <phial/sample/json_schema.hpp>
#include <phial/sample/generate.hpp>
// [agent]
#include <phial/agent/agent.hpp>
