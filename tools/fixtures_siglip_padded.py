"""Fixture group siglip-padded (tests/fixtures/siglip-padded/): the SigLIP / Idefics3 vision encoder on
padded tiles, run by tools/make_fixtures.py --only siglip-padded."""

import os

# ---------------------------------------------------------------------------------------------------------------
# siglip-padded: the vision encoder on padded tiles

SIGLIP_PADDED_SOURCE = "smolvlm/nosplit"  # the tiny checkpoint used by reference (Idefics3, p4, 32x32 tiles)
SIGLIP_PADDED_SEED = 1234
# (what, valid pixel rows [r0, r1), valid pixel columns [c0, c1)) in a 32x32 tile; pixels outside are zeroed as the
# processor's pad does, except in the all-masked tile, whose pixels are kept so that it is no "padding image".
SIGLIP_PADDED_TILES = [
    ("20x28 valid pixels at the top left: 5x7 whole patches", (0, 20), (0, 28)),
    ("18x30: the valid region ends mid-patch (partially valid patches count as valid): 5x8 patches", (0, 18), (0, 30)),
    ("full tile", (0, 32), (0, 32)),
    ("tall 30x9: 8x3 patches", (0, 30), (0, 9)),
    ("wide 6x32: 2x8 patches", (0, 6), (0, 32)),
    ("one pixel: 1x1 patch", (0, 1), (0, 1)),
    ("right strip 32x17 (cols 15..): column 0 has no valid patch, so nb_patches_h = 0 and step_h = 1/0 = inf; row 0 "
     "gets 0 * inf = NaN, which torch.bucketize puts past the last boundary (bucket 7), rows 1.. inf clamped to "
     "1 - 1e-6 (bucket 7 too)", (0, 32), (15, 32)),
    ("no valid pixel at all: every key masked, transformers' additive finfo.min makes the scores equal, so every "
     "query attends uniformly to all keys; position ids all 0", (0, 0), (0, 0)),
]
# Sides (patches per tile side) of the bucket table: the fixture's 8, the p3-m48 fixtures' 16, SmolVLM's 32
# (512 / 16), Idefics3-8B's 26 (364 / 14), SigLIP-so400m's 27 (384 / 14), and 19, 37, 49, where the float32
# boundaries from torch.arange depend on its vectorised kernel.
SIGLIP_PADDED_TABLE_SIDES = [8, 16, 19, 26, 27, 32, 37, 49]


def _padded_module_position_ids(side, masks):
    """Position ids that transformers' own Idefics3VisionEmbeddings computes for boolean patch masks (n, side, side),
    captured at its position embedding (a 1-channel, 1-wide embedding with patch size 1 keeps it cheap)."""
    import torch
    from transformers.models.idefics3.configuration_idefics3 import Idefics3VisionConfig
    from transformers.models.idefics3.modeling_idefics3 import Idefics3VisionEmbeddings
    emb = Idefics3VisionEmbeddings(Idefics3VisionConfig(hidden_size=1, image_size=side, patch_size=1,
                                                        num_channels=1)).eval()
    cap = {}
    h = emb.position_embedding.register_forward_hook(lambda m, a, o: cap.__setitem__("ids", a[0]))
    with torch.no_grad():
        emb(torch.zeros(masks.shape[0], 1, side, side), masks)
    h.remove()
    return cap["ids"].view(-1, side, side)


def siglip_padded_bucket_table(side):
    """buckets[nb][i]: the bucketized coordinate of patch row (or column) i of a tile whose column 0 (row 0) has nb
    valid patches, nb = 0..side, read off the ids the real module gives for masks that are all valid except in
    column 0 and row 0, where only the first nb patches are. With nb = 0 the entry for i = 0 is None: it is the
    bucket of NaN (0 * 1/0), len(boundaries), seen only by a valid patch in row 0 of a tile with nb_patches_h = 0,
    which is out of the embedding's range (IndexError) on sides where arange gives side boundaries (19, 27)."""
    import torch
    assert side >= 2
    masks = torch.ones(side + 1, side, side, dtype=torch.bool)
    for nb in range(side + 1):
        masks[nb, nb:, 0] = False
        masks[nb, 0, nb:] = False
    ids = _padded_module_position_ids(side, masks)
    table = []
    for nb in range(side + 1):
        m, p = masks[nb], ids[nb]
        assert int(m[:, 0].sum()) == nb and int(m[0, :].sum()) == nb
        bh = [None if nb == 0 else int(p[0, 0]) // side] + [int(p[i, 1]) // side for i in range(1, side)]
        bw = [None if nb == 0 else int(p[0, 0]) % side] + [int(p[1, j]) % side for j in range(1, side)]
        assert bh == bw, (side, nb)
        for i in range(side):
            for j in range(side):
                want = bh[i] * side + bw[j] if m[i, j] else 0
                assert int(p[i, j]) == want, (side, nb, i, j)
        table.append(bh)
    return table


def generate():
    """tests/fixtures/siglip-padded/: transformers' Idefics3 vision tower (eager, float32) on padded tiles, with the
    weights of tests/fixtures/smolvlm/nosplit by reference (not copied)."""
    import json
    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import Idefics3ForConditionalGeneration
    import fixtures_common as fc
    from common import FIXTURES_DIR, rel, sha256_bytes, versions, write_json

    fc.deterministic_torch()
    transformers.logging.set_verbosity_error()
    src = os.path.join(FIXTURES_DIR, *SIGLIP_PADDED_SOURCE.split("/"))
    out = os.path.join(FIXTURES_DIR, "siglip-padded")
    fc.fresh_dir(out)
    model = Idefics3ForConditionalGeneration.from_pretrained(src, dtype=torch.float32,
                                                             attn_implementation="eager").eval()
    vc = model.config.vision_config
    p, S, n_layer = vc.patch_size, vc.image_size, vc.num_hidden_layers
    n = len(SIGLIP_PADDED_TILES)
    g = torch.Generator().manual_seed(SIGLIP_PADDED_SEED)
    pv = 2 * torch.rand(n, vc.num_channels, S, S, generator=g) - 1
    mask = torch.zeros(n, S, S, dtype=torch.long)
    for t, (_, (r0, r1), (c0, c1)) in enumerate(SIGLIP_PADDED_TILES):
        mask[t, r0:r1, c0:c1] = 1
        if mask[t].any():
            pv[t] *= mask[t]

    vm = model.model.vision_model
    cap = {}
    hooks = [vm.register_forward_pre_hook(lambda m, a, kw: cap.__setitem__("patch_mask", kw["patch_attention_mask"]),
                                          with_kwargs=True),
             vm.embeddings.register_forward_hook(lambda m, a, o: cap.__setitem__("embeddings", o)),
             vm.embeddings.position_embedding.register_forward_hook(lambda m, a, o: cap.__setitem__("ids", a[0])),
             vm.post_layernorm.register_forward_hook(lambda m, a, o: cap.__setitem__("last", o))]
    for i, layer in enumerate(vm.encoder.layers):
        hooks.append(layer.register_forward_hook(lambda m, a, o, i=i: cap.__setitem__(f"layer.{i}", o)))
    with torch.no_grad():
        feats = model.model.get_image_features(pv[None], mask[None], return_dict=True)
    for h in hooks:
        h.remove()
    assert torch.equal(feats.last_hidden_state, cap["last"]) and cap["last"].shape[0] == n  # no tile dropped
    pm = cap["patch_mask"]
    assert torch.equal(pm, mask.unfold(1, p, p).unfold(2, p, p).sum(dim=(-1, -2)) > 0)

    tensors = {"pixel_values": pv.contiguous(), "pixel_attention_mask": mask.to(torch.uint8).contiguous(),
               "patch_attention_mask": pm.to(torch.uint8).contiguous(),
               "position_ids": cap["ids"].to(torch.int32).contiguous(),
               "embeddings": cap["embeddings"].contiguous(),
               **{f"layer.{i}": cap[f"layer.{i}"].contiguous() for i in range(n_layer)},
               "last_hidden_state": cap["last"].contiguous()}
    save_file(tensors, os.path.join(out, "reference.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(out, "position_buckets.json"), {
        "doc": "buckets[side][nb][i]: torch.bucketize(clamp(i * (1 / nb), max=1 - 1e-6), arange(1/side, 1, 1/side), "
               "right=True) as computed by transformers' Idefics3VisionEmbeddings.forward, i = 0..side-1, nb = 0..side "
               "(the valid patches in column 0 for rows, in row 0 for columns). A valid patch (h, w) gets id "
               "buckets[side][nb_h][h] * side + buckets[side][nb_w][w], a masked one 0. Read off the module's "
               "position ids, CPU float32.",
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "buckets": {str(side): siglip_padded_bucket_table(side) for side in SIGLIP_PADDED_TABLE_SIDES},
    })
    with open(os.path.join(src, "model.safetensors"), "rb") as f:
        weights_sha = sha256_bytes(f.read())
    files = fc.finish_files(out)
    write_json(os.path.join(out, "reference.json"), {
        "description": "transformers' Idefics3VisionTransformer (model.model.vision_model, run through "
                       "Idefics3Model.get_image_features so that the patch mask is the model's own unfold + sum > 0) "
                       "on tiles with padded pixels; eager attention, float32",
        "versions": versions(),
        "checkpoint": {"dir": "tests/fixtures/" + SIGLIP_PADDED_SOURCE, "model.safetensors_sha256": weights_sha,
                       "vision_config": json.load(open(os.path.join(src, "config.json")))["vision_config"]},
        "pixel_values": f"uniform [-1, 1) from torch.Generator().manual_seed({SIGLIP_PADDED_SEED}), times the pixel "
                        "mask (except in the all-masked tile)",
        "tiles": [{"what": w, "valid_rows": list(r), "valid_cols": list(c),
                   "valid_patches_hw": [int(pm[t, :, 0].sum()), int(pm[t, 0, :].sum())],
                   "n_valid_patches": int(pm[t].sum())}
                  for t, (w, r, c) in enumerate(SIGLIP_PADDED_TILES)],
        "tensors": {"pixel_values": "F32 [n_tiles, 3, S, S]",
                    "pixel_attention_mask": "U8 [n_tiles, S, S] 1 = real pixel",
                    "patch_attention_mask": "U8 [n_tiles, S/p, S/p] as get_image_features derives it",
                    "position_ids": "I32 [n_tiles, (S/p)^2] fed to the position embedding",
                    "embeddings": "F32 [n_tiles, (S/p)^2, D] patch embedding + position embedding",
                    "layer.<i>": "F32 [n_tiles, (S/p)^2, D] output of encoder layer i (before post_layernorm)",
                    "last_hidden_state": "F32 [n_tiles, (S/p)^2, D] after post_layernorm"},
        "files": files + ["reference.json"],
    })
    fc.finish_files(out)
    print(f"siglip-padded: {n} tiles, {fc.total_size(out, os.listdir(out)) // 1024} KiB -> {rel(out)}")

