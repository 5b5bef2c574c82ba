"""Generate betterproto / betterproto2 classes for OTLP traces into a local cache.

The ``opentelemetry-proto`` wheel ships no ``.proto`` files, only the compiled
``_pb2`` modules. Their embedded ``FileDescriptorProto``\\ s are all a protoc plugin
needs, so we build the ``CodeGeneratorRequest`` protoc would have built and pipe it
into the plugin's own entry point. No protoc binary and no network are involved.

Generated code lands under ``bench/.cache/`` (git-ignored) and is never committed.
A directory per (flavour, compiler version, request fingerprint) keeps reruns free
and regenerates by itself when a version changes.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from google.protobuf.compiler import plugin_pb2
from google.protobuf.descriptor import FileDescriptor
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
_DONE_MARKER = ".complete"


@dataclass(frozen=True, slots=True)
class Flavour:
    """One betterproto generation: its compiler, runtime and generated package."""

    key: str
    runtime_dist: str
    compiler_dist: str
    plugin_module: str
    parameter: str

    @property
    def package(self) -> str:
        return f"otlp_{self.key}"


BETTERPROTO2 = Flavour(
    key="betterproto2",
    runtime_dist="betterproto2",
    compiler_dist="betterproto2_compiler",
    plugin_module="betterproto2_compiler.plugin",
    # Messages only: the gRPC stubs are irrelevant to decoding.
    parameter="client_generation=none,server_generation=none",
)
BETTERPROTO = Flavour(
    key="betterproto",
    runtime_dist="betterproto",
    compiler_dist="betterproto",
    plugin_module="betterproto.plugin",
    parameter="",
)


def _files_in_dependency_order(root: FileDescriptor) -> list[FileDescriptor]:
    ordered: list[FileDescriptor] = []
    seen: set[str] = set()

    def visit(fd: FileDescriptor) -> None:
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            visit(dep)
        ordered.append(fd)

    visit(root)
    return ordered


def build_request(parameter: str) -> plugin_pb2.CodeGeneratorRequest:
    """The request protoc would send for ``trace_service.proto`` and its imports."""
    request = plugin_pb2.CodeGeneratorRequest(parameter=parameter)
    for fd in _files_in_dependency_order(trace_service_pb2.DESCRIPTOR):
        proto = request.proto_file.add()
        fd.CopyToProto(proto)
        # Comments are not kept in the _pb2 modules; betterproto2 insists on the field.
        proto.source_code_info.SetInParent()
        request.file_to_generate.append(fd.name)
    return request


def versions(flavour: Flavour) -> dict[str, str]:
    dists = {flavour.runtime_dist, flavour.compiler_dist, "opentelemetry-proto"}
    return {dist: importlib.metadata.version(dist) for dist in sorted(dists)}


def _run_plugin(flavour: Flavour, request: bytes) -> plugin_pb2.CodeGeneratorResponse:
    env = dict(os.environ)
    # betterproto2_compiler formats its output by running `ruff` from PATH.
    scripts = sysconfig.get_path("scripts")
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", "")])
    code = f"import sys; from {flavour.plugin_module} import main; sys.exit(main())"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input=request,
        capture_output=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{flavour.plugin_module} failed (exit {proc.returncode}):\n"
            + proc.stderr.decode(errors="replace")
        )
    response = plugin_pb2.CodeGeneratorResponse.FromString(proc.stdout)
    if response.error:
        raise RuntimeError(f"{flavour.plugin_module} reported: {response.error}")
    return response


def generate(flavour: Flavour) -> Path:
    """Generate (or reuse) the classes of ``flavour``; return the sys.path root holding them."""
    request = build_request(flavour.parameter).SerializeToString(deterministic=True)
    tag = repr(sorted(versions(flavour).items())).encode() + request
    fingerprint = hashlib.sha256(tag).hexdigest()[:12]
    compiler_version = importlib.metadata.version(flavour.compiler_dist)
    root = CACHE_DIR / f"{flavour.key}-{compiler_version}-{fingerprint}"
    if (root / _DONE_MARKER).exists():
        return root

    response = _run_plugin(flavour, request)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Keeps generated code out of git even before the repo's .gitignore lists the cache.
    (CACHE_DIR / ".gitignore").write_text("*\n")
    staging = Path(tempfile.mkdtemp(prefix=f".{flavour.key}-", dir=CACHE_DIR))
    try:
        # The generated modules import each other relatively up to the output root
        # (betterproto2's message_pool lives there), so the output root becomes a package.
        package_dir = staging / flavour.package
        for generated in response.file:
            target = package_dir / generated.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(generated.content, encoding="utf-8")
        (package_dir / "__init__.py").touch()
        (staging / _DONE_MARKER).write_text(f"{sorted(versions(flavour).items())}\n")
        shutil.rmtree(root, ignore_errors=True)
        staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def load_trace_modules(flavour: Flavour) -> tuple[ModuleType, ModuleType, ModuleType]:
    """Import the generated ``collector.trace.v1``, ``trace.v1`` and ``common.v1`` modules."""
    root = str(generate(flavour))
    if root not in sys.path:
        sys.path.insert(0, root)
    base = f"{flavour.package}.opentelemetry.proto"
    return (
        importlib.import_module(f"{base}.collector.trace.v1"),
        importlib.import_module(f"{base}.trace.v1"),
        importlib.import_module(f"{base}.common.v1"),
    )


if __name__ == "__main__":
    for fl in (BETTERPROTO2, BETTERPROTO):
        print(f"{fl.key}: {generate(fl)}  {versions(fl)}")
