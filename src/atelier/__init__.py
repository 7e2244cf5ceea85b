"""atelier: neural style transfer toolkit.

Public API (imported lazily so that ``atelier --help`` starts fast)::

    import atelier
    img = atelier.stylize("photo.jpg", "painting.jpg", size=512)   # -> PIL image
    tex = atelier.texture("bark.jpg", method="quilting", size=512)  # -> PIL image
    atelier.stylize_video("clip.mp4", "out.mp4", model="starry_night")   # -> VideoResult
    atelier.list_methods()                                         # -> ["gatys", ...]
    atelier.run_batch(["photos/"], "out/", model="starry_night")   # -> BatchReport (resumable)
    atelier.explain("painting.jpg", "sheet/", size=256)           # -> ExplainResult (sheet.jpg, explain.json)

Front ends (CLI, web, batch) use only the names listed in ``__all__``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "stylize": "atelier.api",
    "stylize_to_file": "atelier.api",
    "run": "atelier.api",
    "prepare": "atelier.api",
    "mix_inputs": "atelier.api",
    "Prepared": "atelier.api",
    "estimate": "atelier.api",
    "write_result": "atelier.api",
    "provenance_record": "atelier.api",
    "result_provenance": "atelier.api",
    "provenance": "atelier.provenance",
    "watermark": "atelier.watermark",
    "StylizeResult": "atelier.api",
    "texture": "atelier.api",
    "run_texture": "atelier.api",
    "texture_to_file": "atelier.api",
    "texture_size": "atelier.api",
    "resolve_device": "atelier.devices",
    "default_inputs": "atelier.api",
    "load_image": "atelier.io",
    "read_image": "atelier.io",
    "save_image": "atelier.io",
    "check_output_path": "atelier.io",
    "sidecar_path": "atelier.io",
    "plan_outputs": "atelier.io",
    "snapshot_path": "atelier.io",
    "list_methods": "atelier.methods",
    "get_method": "atelier.methods",
    "method_spec": "atelier.methods",
    "create_method": "atelier.methods",
    "method_for_model": "atelier.methods",
    "compare": "atelier.comparison",
    "explain": "atelier.explainer",
    "ExplainResult": "atelier.explainer",
    "check_explain": "atelier.explainer",
    "RunSpec": "atelier.comparison",
    "compare_folders": "atelier.comparison",
    "evaluate": "atelier.metrics",
    "metrics": "atelier.metrics",
    "errors": "atelier.errors",
    "events": "atelier.events",
    "list_models": "atelier.weights",
    "find_model": "atelier.weights",
    "user_models_dir": "atelier.weights",
    "export_onnx": "atelier.export",
    "train": "atelier.training",
    "list_trainers": "atelier.methods",
    "trainer_spec": "atelier.methods",
    "atelier_home": "atelier.paths",
    "check_input_file": "atelier.paths",
    "preview_path": "atelier.paths",
    "stylize_video": "atelier.video.pipeline",
    "VideoResult": "atelier.video.pipeline",
    "video_info": "atelier.video.io",
    "VideoConfig": "atelier.video.config",
    "RefineOptions": "atelier.refine",
    "refinable": "atelier.refine",
    "WorkSizeOptions": "atelier.worksize",
    "ProtectOptions": "atelier.protect",
    "SemanticOptions": "atelier.semantic",
    "find_regions": "atelier.semantic",
    "estimate_video": "atelier.video.estimate",
    "parse_style_at": "atelier.video.keyframes",
    "style_at_method": "atelier.video.keyframes",
    "run_batch": "atelier.batch",
    "BatchReport": "atelier.batch",
    "run_item": "atelier.batch",
    "default_workers": "atelier.batch",
    "connect_cluster": "atelier.batch",
}

__all__ = [  # noqa: RUF022 - grouped by module, as in _LAZY
    "__version__", "stylize", "stylize_to_file", "run", "prepare", "mix_inputs", "Prepared", "estimate", "write_result", "StylizeResult",
    "provenance_record", "result_provenance", "provenance", "watermark",
    "texture", "run_texture", "texture_to_file", "texture_size", "resolve_device",
    "default_inputs", "load_image", "read_image", "save_image", "check_output_path", "sidecar_path",
    "plan_outputs", "snapshot_path",
    "list_methods", "get_method", "method_spec", "create_method", "method_for_model", "compare", "RunSpec",
    "compare_folders", "explain", "ExplainResult", "check_explain", "evaluate", "metrics", "errors",
    "events", "list_models", "find_model", "user_models_dir", "export_onnx",
    "train", "list_trainers", "trainer_spec", "atelier_home", "check_input_file", "preview_path", "stylize_video",
    "VideoResult", "video_info", "VideoConfig",
    "RefineOptions", "refinable", "WorkSizeOptions", "ProtectOptions", "SemanticOptions", "find_regions", "estimate_video", "parse_style_at", "style_at_method",
    "run_batch", "BatchReport", "run_item", "default_workers", "connect_cluster",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'atelier' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if module.__name__ == f"atelier.{name}" else getattr(module, name)
    globals()[name] = value
    return value
