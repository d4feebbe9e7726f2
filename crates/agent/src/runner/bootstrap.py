# Nova's Python bootstrap: runs an ordinary handler(event[, context]) for the Comet agent.
#
#   python3 -c <this> CODE_PATH MODULE.FUNCTION              persistent: one JSON line in, one out
#   python3 -c <this> CODE_PATH MODULE.FUNCTION --once INPUT one call, result JSON on stdout
#
# In persistent mode the protocol runs over private copies of fds 0 and 1; the handler's own
# stdin is /dev/null and whatever it prints is captured per call and returned beside the result.
import contextlib
import importlib.machinery
import importlib.util
import inspect
import io
import json
import os
import runpy
import sys
import tempfile
import traceback

LOG_LIMIT = 64 * 1024


class Context(dict):
    """The invocation context: readable as context.request_id and as context["request_id"]."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def load(code_path, handler):
    module_name, func_name = handler.rsplit(".", 1)
    code_dir = os.path.dirname(os.path.abspath(code_path))
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    with open(code_path, encoding="utf-8", errors="replace") as f:
        has_main = "__main__" in f.read()
    loader = importlib.machinery.SourceFileLoader(module_name, code_path)
    spec = importlib.util.spec_from_loader(module_name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    loader.exec_module(module)
    fn = getattr(module, func_name, None)
    if callable(fn):
        return make_call(fn)
    if has_main:
        return lambda event, ctx: run_as_main(code_path, event)
    raise LookupError(f"handler {handler!r} not found: module {module_name!r} has no function {func_name!r}")


def make_call(fn):
    try:
        params = inspect.signature(fn).parameters.values()
        takes_context = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params) >= 2 or any(
            p.kind == p.VAR_POSITIONAL for p in params
        )
    except (TypeError, ValueError):
        takes_context = True
    return (lambda event, ctx: fn(event, ctx)) if takes_context else (lambda event, ctx: fn(event))


def run_as_main(code_path, event):
    """A file with only a __main__ block (the seed's style): run it per call, result on stdout."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(event, f)
    saved_argv, out = sys.argv, io.StringIO()
    sys.argv = [code_path, f.name]
    try:
        with contextlib.redirect_stdout(out):
            try:
                runpy.run_path(code_path, run_name="__main__")
            except SystemExit as e:
                if e.code not in (None, 0):
                    raise RuntimeError(f"handler exited with status {e.code}") from None
    finally:
        sys.argv = saved_argv
        os.unlink(f.name)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    if not lines:
        raise ValueError("handler printed nothing on stdout (expected a JSON result)")
    sys.stdout.write("\n".join(lines[:-1]))
    return json.loads(lines[-1])


def call_once(call, event, ctx):
    """One call, as the JSON reply line: {"output": …} or {"error": …}, plus what it printed."""
    out, err = io.StringIO(), io.StringIO()
    reply = {}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            reply["output"] = call(event, ctx)
    except BaseException as e:  # the handler's failure is the caller's answer, not ours
        err.write(traceback.format_exc())
        reply["error"] = f"{type(e).__name__}: {e}"
    logs = {"stdout": out.getvalue()[-LOG_LIMIT:], "stderr": err.getvalue()[-LOG_LIMIT:]}
    reply.update((k, v) for k, v in logs.items() if v)
    try:
        return json.dumps(reply, allow_nan=False)
    except (TypeError, ValueError) as e:
        logs["error"] = f"handler result is not JSON-serializable: {e}"
        return json.dumps(logs)


def persistent(code_path, handler):
    proto_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    proto_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # stray writes to fd 1 become logs, never protocol lines
    try:
        call = load(code_path, handler)
    except BaseException as e:
        traceback.print_exc()
        proto_out.write(json.dumps({"error": f"cannot load handler: {type(e).__name__}: {e}"}) + "\n")
        proto_out.flush()
        sys.exit(1)
    proto_out.write('{"ready":true}\n')
    proto_out.flush()
    for line in proto_in:
        request = json.loads(line)
        ctx = Context(request.get("context") or {})
        os.environ["NOVA_REQUEST_ID"] = str(ctx.get("request_id", ""))
        proto_out.write(call_once(call, request.get("input"), ctx) + "\n")
        proto_out.flush()


def once(code_path, handler, input_path):
    call = load(code_path, handler)
    with open(input_path, encoding="utf-8") as f:
        event = json.load(f)
    ctx = Context(
        request_id=os.environ.get("NOVA_REQUEST_ID", ""),
        function_name=os.environ.get("NOVA_FUNCTION_NAME", ""),
        function_version=os.environ.get("NOVA_FUNCTION_VERSION", ""),
        memory_limit_mb=int(os.environ.get("NOVA_MEMORY_LIMIT_MB", "0") or 0),
        timeout_s=int(os.environ.get("NOVA_TIMEOUT_S", "0") or 0),
        runtime="python",
    )
    print(json.dumps(call(event, ctx)))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[3] == "--once":
        once(sys.argv[1], sys.argv[2], sys.argv[4])
    else:
        persistent(sys.argv[1], sys.argv[2])
