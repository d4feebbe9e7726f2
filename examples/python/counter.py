"""A persistent-mode handler: the module loads once per instance, so state survives between calls.

Register it with `--mode persistent --handler counter.handler`. Each warm call sees the count go up;
a new instance (cold start) starts again from one.
"""
import os

invocations = 0


def handler(event, context):
    global invocations
    invocations += 1
    name = event.get("name", "Anonymous")
    print(f"greeting {name}")  # captured per call and returned as the call's stdout
    return {
        "message": f"Hello, {name}!",
        "invocations": invocations,
        "request_id": context.request_id,
        "function": context["function_name"],
        "pid": os.getpid(),
    }
