"""Per-request attention for `transformers serve --continuous-batching` on a CPU: Bottega's local server.

    python -m pipeline.varlen_attention serve MODEL_FOLDER --continuous-batching --device cpu ...

takes exactly the arguments of `transformers serve`; `pipeline.serve.start_local_server` starts it this way on a CPU.

Why: continuous batching packs every request of a forward pass into one sequence. On CUDA, flash-attn's
variable-length kernel then attends each request to its own keys. Without it (a CPU), transformers' `sdpa` path
runs one dense masked attention of every query against every request's keys, repeating the key/value heads first:
with 16 requests of ~1,000 tokens, each layer of each step attends 16x more keys than needed and copies ~16,000
keys three times over, so most of batching's gain is lost (`bench/serve_batching.py` measures it).

This module registers, in the server's own process, an `sdpa` that splits a paged-cache call at the requests'
boundaries (`cu_seq_lens_q`, `cu_seq_lens_k`) and runs one grouped-query SDPA per request, causal from the bottom
right (a request's queries are the last tokens of its keys). Every other call, and any paged call it does not
handle (sliding window, soft-capping, position bias, attention sinks), goes to transformers' own `sdpa`, with the
dense mask continuous batching still builds for it. Overriding a registered name is AttentionInterface's documented
extension point; it changes nothing outside the server process.
"""

import sys


def paged_varlen_sdpa(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """transformers' `sdpa` signature; query [1, heads, q_tokens, dim], key/value [1, kv_heads, new_tokens, dim]."""
    import torch
    from torch.nn.functional import scaled_dot_product_attention
    from transformers.generation.continuous_batching.cache import PagedAttentionCache
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    cache = kwargs.get("cache")
    unsupported = ("sliding_window", "softcap", "position_bias", "s_aux", "sinks")
    if not isinstance(cache, PagedAttentionCache) or any(kwargs.get(name) is not None for name in unsupported):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)

    # cache.update also narrows kwargs' per-layer-type entries to this layer's, in place
    key, value = cache.update(key_states=key, value_states=value, layer_idx=module.layer_idx, kwargs=kwargs)
    starts_q = kwargs["cu_seq_lens_q"].tolist()
    starts_k = kwargs["cu_seq_lens_k"].tolist()
    heads, kv_heads = query.shape[1], key.shape[1]
    outputs = []
    for i in range(len(starts_q) - 1):
        q = query[:, :, starts_q[i] : starts_q[i + 1]]
        k = key[:, :, starts_k[i] : starts_k[i + 1]]
        v = value[:, :, starts_k[i] : starts_k[i + 1]]
        q_len, k_len = q.shape[2], k.shape[2]
        if q_len == 1:  # decode: the query heads of one key/value head become its rows, no mask (6x faster on CPU)
            out = scaled_dot_product_attention(q.view(1, kv_heads, heads // kv_heads, -1), k, v, scale=scaling)
            outputs.append(out.view(1, heads, 1, -1))
        elif q_len == k_len:  # a whole prompt: causal from the top left, the fused kernel
            outputs.append(scaled_dot_product_attention(q, k, v, is_causal=True, scale=scaling, enable_gqa=True))
        else:  # the rest of a prompt split across passes: its queries are the last q_len positions
            positions = torch.arange(k_len, device=q.device)
            mask = positions[k_len - q_len :, None] >= positions[None, :]
            outputs.append(scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scaling, enable_gqa=True))
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def register() -> None:
    """Make `sdpa` mean `paged_varlen_sdpa` in this process."""
    from transformers import AttentionInterface

    AttentionInterface.register("sdpa", paged_varlen_sdpa)


def main() -> None:
    register()
    from transformers.cli.transformers import main as transformers_cli

    sys.argv = ["transformers", *sys.argv[1:]]
    transformers_cli()


if __name__ == "__main__":
    main()
