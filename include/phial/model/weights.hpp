// phial/model/weights.hpp - the tensors of a Phi-3-architecture decoder, independent of the file
// format they came from. Views point into memory-mapped files (or memory the Model owns).
#pragma once
#include <vector>

#include <phial/model/tensor.hpp>

namespace phial {

struct LayerWeights {
  TensorView attn_norm;    // (H)                 input_layernorm
  TensorView attn_qkv;     // ne {H, (nH+2nKV)hd}  fused rows Q | K | V
  TensorView attn_output;  // ne {nH*hd, H}        o_proj
  TensorView ffn_norm;     // (H)                 post_attention_layernorm
  TensorView ffn_up;       // ne {H, 2I}           fused rows gate | up
  TensorView ffn_down;     // ne {I, H}
};

struct ModelWeights {
  TensorView token_embd;   // ne {H, V}
  TensorView output_norm;  // (H)
  TensorView output;       // ne {H, V}; equals token_embd when embeddings are tied
  std::vector<LayerWeights> layers;
};

}  // namespace phial
