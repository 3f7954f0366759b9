"""Tiny *trained* Qwen2-VL checkpoint: a test fixture whose answer is known in advance.

``build(outdir)`` writes (offline, ~20 s on 2 CPU cores) a ~2 MB Qwen2VLForConditionalGeneration
checkpoint in Hugging Face format (float32; loads in vLLM with dtype="float32", enforce_eager=True,
limit_mm_per_prompt={"image": 1}) that was trained, with a fixed seed, so that for ANY page image and
an OCR prompt (one image part + one text part, either order, rendered by the tokenizer's chat
template) it answers exactly ``RESPONSE`` (an olmOCR-style front matter + one sentence) and then
emits EOS (<|im_end|>).  OCR pipelines can thus be tested end to end with deterministic,
well-formed output that stops by itself (finish_reason "stop"), without downloading a real model.

* tokenizer: byte-level BPE (as Qwen2) trained on a few built-in strings; newlines are single
  tokens and decode(encode(RESPONSE)) == RESPONSE.  EOS ids <|im_end|>/<|endoftext|> are the only
  special tokens; <|im_start|> and the vision tokens are atomic added tokens.
  config.vocab_size == len(tokenizer).
* image processor: Qwen2-VL (patch 14, merge 2), max_pixels=MAX_PIXELS (64 image tokens max;
  a 1288x996 page -> 196x252 px -> 63 image tokens).
* The model only learned to ignore its input: anything outside the training distribution
  (other prompts, several images, multi-turn chats) gives undefined output.

usage: python tiny_vl.py OUTDIR
"""
import json
import os
import random
import time

from raypipe.engines import prompts

RESPONSE_TEXT = "The quick brown fox jumps over the lazy dog."
RESPONSE = ("---\nprimary_language: en\nis_rotation_valid: True\nrotation_correction: 0\n"
            "is_table: False\nis_diagram: False\n---\n" + RESPONSE_TEXT)
PROMPTS = [
    # raypipe's presets' own prompts first (olmOCR-2 v4, RolmOCR, generic markdown)
    prompts.OLMOCR_V4_YAML,
    prompts.ROLMOCR_PLAIN,
    prompts.GENERIC_MARKDOWN_V1,
    "Attached is one page of a document that you must process. Just return the plain text "
    "representation of this document as if you were reading it naturally.",
    "Return the plain text representation of this document as if you were reading it naturally.\n",
    "Read all the text in this page image and return it as markdown.",
    "Below is the image of one page of a document. Just return the plain text representation "
    "of this document as if you were reading it naturally. Do not hallucinate.",
    "Convert this page to plain text.",
    "OCR this image.",
]
SYSTEM = "You are a helpful assistant."
MIN_PIXELS, MAX_PIXELS = 4 * 28 * 28, 64 * 28 * 28
SPECIAL = ["<|endoftext|>", "<|im_end|>"]   # special=True: dropped by skip_special_tokens
ADDED = ["<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]

# Qwen2-VL-Instruct chat template; parts rendered in the given order; also accepts vLLM's
# {"type": "image_url"} / {"type": "image_pil"} parts.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\n" + SYSTEM + "<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] in ('image', 'image_url', 'image_pil') or 'image' in content "
    "or 'image_url' in content or 'image_pil' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer():
    from tokenizers import (
        AddedToken,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([RESPONSE] * 8 + PROMPTS * 4 + [SYSTEM, "system user assistant"] * 4,
                            trainer)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIAL])
    tok.add_tokens([AddedToken(s, special=False, normalized=False) for s in ADDED])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", model_max_length=8192)
    fast.chat_template = CHAT_TEMPLATE
    assert fast.decode(fast.encode(RESPONSE), skip_special_tokens=True) == RESPONSE
    return fast


def make_page(rng):
    """Random page-like RGB image: white paper with dark 'text lines', boxes and rules."""
    from PIL import Image, ImageDraw
    w, h = rng.choice([(1288, 996), (996, 1288), (850, 1100), (1100, 850), (612, 792),
                       (1700, 2200), (640, 480), (300, 200), (120, 400)])
    s = rng.uniform(0.3, 1.0)               # drawing at a reduced scale keeps this fast
    w, h = max(28, int(w * s)), max(28, int(h * s))
    bg = rng.randint(225, 255)
    img = Image.new("RGB", (w, h), (bg, bg, rng.randint(215, 255)))
    d = ImageDraw.Draw(img)
    n = 0 if rng.random() < 0.15 else rng.randint(1, 60)      # some near-blank pages
    for _ in range(n):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        kind = rng.random()
        if kind < 0.7:      # a line of "text"
            x1, y1 = x0 + rng.randint(5, w // 2 + 5), y0 + rng.randint(2, max(3, h // 40))
        elif kind < 0.85:   # a rule
            x1, y1 = (x0 + rng.randint(5, w), y0 + 1) if rng.random() < 0.5 else (x0 + 1, y0 + rng.randint(5, h))
        else:               # a figure / table box
            x1, y1 = x0 + rng.randint(10, w // 2 + 10), y0 + rng.randint(10, h // 2 + 10)
        c = rng.randint(0, 90)
        d.rectangle([x0, y0, x1, y1], fill=(c, c, rng.randint(0, 120)))
    if rng.random() < 0.1:
        d.point([(rng.randrange(w), rng.randrange(h)) for _ in range(50)], fill=(0, 0, 0))
    return img


def _config(tok, hidden=128, layers=2):
    from transformers import Qwen2VLConfig
    ids = {s: tok.convert_tokens_to_ids(s) for s in SPECIAL + ADDED}
    eos, pad = ids["<|im_end|>"], ids["<|endoftext|>"]
    return Qwen2VLConfig(
        text_config=dict(
            vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
            num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
            max_position_embeddings=4096, rms_norm_eps=1e-6, hidden_act="silu",
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                             "mrope_section": [8, 12, 12]},          # head_dim 64
            bos_token_id=pad, eos_token_id=eos, pad_token_id=pad,
            tie_word_embeddings=False, dtype="float32"),
        vision_config=dict(depth=1, embed_dim=32, hidden_size=hidden, num_heads=2, mlp_ratio=2,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                           in_channels=3),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=pad, eos_token_id=eos, pad_token_id=pad, tie_word_embeddings=False)


def build(outdir: str, steps: int = 200, batch: int = 8, lr: float = 3e-3, seed: int = 0) -> dict:
    """Build and train the fixture checkpoint in `outdir`; returns a summary dict."""
    import numpy as np
    import torch
    from transformers import Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
        smart_resize,
    )

    t0 = time.time()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    np.random.seed(seed)
    os.makedirs(outdir, exist_ok=True)
    tok = build_tokenizer()
    cfg = _config(tok)
    model = Qwen2VLForConditionalGeneration(cfg)
    ip = Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, patch_size=14,
                                  temporal_patch_size=2, merge_size=2)
    img_id = cfg.image_token_id
    pad_id, eos_id = tok.pad_token_id, tok.eos_token_id
    resp = tok.encode(RESPONSE) + [eos_id]

    # A pool of pre-processed pages; each step pairs random pages with random prompts/orders.
    pool = []
    for _ in range(64):
        f = ip(images=[make_page(rng)], return_tensors="pt")
        pool.append((f["pixel_values"], f["image_grid_thw"]))

    def example():
        pv, thw = pool[rng.randrange(len(pool))]
        parts = [{"type": "image"}, {"type": "text", "text": rng.choice(PROMPTS)}]
        if rng.random() < 0.5:
            parts.reverse()
        msgs = [{"role": "user", "content": parts}]
        if rng.random() < 0.1:
            msgs.insert(0, {"role": "system", "content": SYSTEM})
        text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        ids = tok.encode(text)
        k = ids.index(img_id)
        ids = ids[:k] + [img_id] * (int(thw.prod()) // 4) + ids[k + 1:]
        return ids + resp, [-100] * len(ids) + resp, pv, thw

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 20) * max(0.05, 1 - s / steps))
    model.train()
    for step in range(steps):
        ex = [example() for _ in range(batch)]
        n = max(len(e[0]) for e in ex)
        input_ids = torch.tensor([e[0] + [pad_id] * (n - len(e[0])) for e in ex])
        labels = torch.tensor([e[1] + [-100] * (n - len(e[1])) for e in ex])
        mask = torch.tensor([[1] * len(e[0]) + [0] * (n - len(e[0])) for e in ex])
        out = model(input_ids=input_ids, attention_mask=mask, labels=labels,
                    mm_token_type_ids=(input_ids == img_id).long(),
                    pixel_values=torch.cat([e[2] for e in ex]),
                    image_grid_thw=torch.cat([e[3] for e in ex]))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    loss = out.loss.item()

    model.eval()
    model.generation_config.eos_token_id = [eos_id, pad_id]
    model.generation_config.pad_token_id = pad_id
    model.generation_config.bos_token_id = pad_id
    model.save_pretrained(outdir, safe_serialization=True)
    tok.save_pretrained(outdir)
    ip.save_pretrained(outdir)
    try:  # full processor config (its video processor needs torchvision)
        from transformers import Qwen2VLProcessor, Qwen2VLVideoProcessor
        vp = Qwen2VLVideoProcessor(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
        Qwen2VLProcessor(image_processor=ip, tokenizer=tok, video_processor=vp,
                         chat_template=CHAT_TEMPLATE).save_pretrained(outdir)
    except Exception:
        pass  # tokenizer + preprocessor_config.json alone still load via AutoProcessor

    h, w = smart_resize(996, 1288, factor=28, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    info = {"outdir": os.path.abspath(outdir), "response": RESPONSE, "final_loss": round(loss, 6),
            "params": sum(p.numel() for p in model.parameters()), "vocab_size": len(tok),
            "steps": steps, "batch": batch, "lr": lr, "seed": seed,
            "image_tokens_1288x996": (h // 28) * (w // 28), "resized_hw_1288x996": [h, w],
            "seconds": round(time.time() - t0, 1)}
    with open(os.path.join(outdir, "tiny_vl_info.json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


if __name__ == "__main__":
    import sys
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(json.dumps(build(sys.argv[1]), indent=1))
