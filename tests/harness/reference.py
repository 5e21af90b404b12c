"""Independent reference of the official injection (method.md) and helpers to run host models directly."""
import copy

import torch
import torch.nn.functional as F

K = 8
# The injection rules of the families (method.md and docs/method.md), each written directly on the host's modules:
# a family's test row names the rule its blocks follow (tests/test_families.py Row.reference), so a family that
# follows an existing rule adds nothing here. The rules used outside the family rows, by the prompt's arch:
# (Wan 2.2's A14B experts are Wan 2.1 blocks.)
ARCH_RULES = {"flux": "flux_blocks", "wan21": "cross_attention", "wan22": "cross_attention"}
# The text width of harness.small_models.small_flux2 (FLUX.2's varies with its LLM; the real ones are 7680-15360).
SMALL_FLUX2_TEXT = 96


RULES = ("flux_blocks", "text_projections", "first_k_joint_qkv", "last_k_text_qkv", "cross_attention")


def prompt_shape(arch):
    """(K, text width) of a test prompt: FLUX.2 always reads 512 text tokens (the model pads to that)."""
    from unlock_restore.prompt_embeds import ARCHS

    spec = ARCHS[arch]
    return (spec.tokens if spec.pad_left else K), (spec.text_width or SMALL_FLUX2_TEXT)


def make_prompt(arch, width, blocks, seed=0, **kw):
    from unlock_restore.prompt_embeds import RestorationPrompt

    g = torch.Generator().manual_seed(seed)
    n = sum(blocks.values())
    k, text = prompt_shape(arch)
    return RestorationPrompt(prompt=0.5 * torch.randn(k, width, generator=g), gates=torch.randn(n, generator=g),
                             mode="gated", arch=arch, blocks=blocks,
                             null_context=0.1 * torch.randn(k, text, generator=g),
                             pooled=0.1 * torch.randn(768, generator=g) if arch == "flux" else None, **kw)


def make_latent(arch, seed=1, model=None):
    """A random latent of `model`'s latent format (its channels, and one frame where it is a video format: Wan 2.1's
    VAE, which Qwen-Image uses too); without a model, FLUX.1's for "flux" and Wan 2.1's otherwise."""
    g = torch.Generator().manual_seed(seed)
    if model is None:
        channels, dims = 16, (2 if arch == "flux" else 3)
    else:
        fmt = model.get_model_object("latent_format")
        channels, dims = fmt.latent_channels, fmt.latent_dimensions
    return torch.randn((1, channels, 8, 8) if dims == 2 else (1, channels, 1, 8, 8), generator=g)


def run_model(patcher, cond, x, sigma=0.4):
    """x0 prediction through the host's own path: load, extra_conds, apply_model."""
    import comfy.model_management

    comfy.model_management.load_models_gpu([patcher])
    extra = {k: v for k, v in cond[0][1].items()}
    conds = patcher.model.extra_conds(noise=x, device=torch.device("cpu"), cross_attn=cond[0][0], **extra)
    with torch.no_grad():  # the patcher's wrappers run as in sampling, where they reach transformer_options
        return patcher.model.apply_model(x, torch.tensor([sigma]), transformer_options={"wrappers": patcher.wrappers},
                                         **{k: v.cond for k, v in conds.items()})


def reference_model(patcher, prompt, strength=1.0, rule=None):
    """The official injection written directly on a deep copy (method.md), independent of nodes/injection.py, by
    `rule` (default: ARCH_RULES of the prompt's arch)."""
    import comfy.model_management
    import comfy.model_patcher

    # A patcher loaded earlier leaves its object patches applied on the shared model: copy a clean one.
    comfy.model_management.unload_all_models()
    # The config object is shared, not copied: newer hosts' model configs answer every unknown attribute (also
    # __deepcopy__ / __setstate__) with None, which breaks deepcopy; it is static data the copy may share.
    config = patcher.model.model_config
    model = copy.deepcopy(patcher.model, memo={id(config): config})
    dm = model.diffusion_model
    P, a, s = prompt.prompt, prompt.gates, strength
    rule = rule or ARCH_RULES[prompt.arch]
    if rule not in RULES:
        raise KeyError(f"no reference rule {rule!r}; the rules: {RULES}")
    if rule == "flux_blocks":  # double: the text-stream qkv input; single: linear1 on the first K tokens
        nd = len(dm.double_blocks)
        for i, blk in enumerate(dm.double_blocks):
            blk.txt_attn.qkv.register_forward_pre_hook(
                lambda mod, args, i=i: (args[0] + s * a[i] * P.to(args[0]),) + args[1:])
        for j, blk in enumerate(dm.single_blocks):
            lin, D = blk.linear1, dm.hidden_size

            def fwd(x, lin=lin, D=D, g=a[nd + j]):
                x_txt = x.clone()
                x_txt[:, :P.shape[0]] = x_txt[:, :P.shape[0]] + s * g * P.to(x)
                bias = (None, None) if lin.bias is None else (lin.bias[:3 * D], lin.bias[3 * D:])  # FLUX.2: none
                qkv = F.linear(x_txt, lin.weight[:3 * D], bias[0])
                mlp = F.linear(x, lin.weight[3 * D:], bias[1])
                return torch.cat([qkv, mlp], dim=-1)
            lin.forward = fwd
    elif rule == "text_projections":  # Qwen-Image: the text projections of each block's attention read t + s a_l P
        for i, blk in enumerate(dm.transformer_blocks):
            for proj in (blk.attn.add_q_proj, blk.attn.add_k_proj, blk.attn.add_v_proj):
                proj.register_forward_pre_hook(lambda mod, args, i=i: (args[0] + s * a[i] * P.to(args[0]),) + args[1:])
    elif rule == "first_k_joint_qkv":  # Z-Image: each joint layer's qkv reads t + s a_l P on the first K rows
        k = P.shape[0]
        for i, blk in enumerate(dm.layers):
            blk.attention.qkv.register_forward_pre_hook(lambda mod, args, i=i: (torch.cat(
                [args[0][:, :k] + s * a[i] * P.to(args[0]), args[0][:, k:]], dim=1),) + args[1:])
    elif rule == "last_k_text_qkv":  # HunyuanVideo 1.5: each block's text qkv, t + s a_l P on the LAST K rows (LLM's)
        k = P.shape[0]
        for i, blk in enumerate(dm.double_blocks):
            blk.txt_attn.qkv.register_forward_pre_hook(lambda mod, args, i=i: (torch.cat(
                [args[0][:, :-k], args[0][:, -k:] + s * a[i] * P.to(args[0])], dim=1),) + args[1:])
    else:  # cross_attention (Wan): out = attn(x, c) + a_l attn(x, c + P)
        for i, blk in enumerate(dm.blocks):
            orig = blk.cross_attn.forward
            blk.cross_attn.forward = (lambda x, c, *args, orig=orig, i=i, **kw:
                                      orig(x, c, *args, **kw) + s * a[i] * orig(x, c + P.to(c), *args, **kw))
    return comfy.model_patcher.ModelPatcher(model, load_device=patcher.load_device,
                                            offload_device=patcher.offload_device)
