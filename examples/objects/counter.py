# A counter's increment, as a plain handler for now: the object's state comes with the call once
# objects are served (issue 16); `nova package check` only checks that this file is here.
def handler(event, context=None):
    count = int(event.get("count", 0)) + int(event.get("by", 1))
    return {"count": count}
