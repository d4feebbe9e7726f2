import json, sys

def handler(event):
    name = event.get("name", "Anonymous")
    return {"message": f"Hello, {name}!", "runtime": "python"}

if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        event = json.load(f)
    print(json.dumps(handler(event)))
