"""Checks that servers answered the same 1000 listings identically: DIR/answers-NAME.json for each NAME given."""
import json
import sys

folder, names = sys.argv[1], sys.argv[2:]
answers = [json.load(open(f"{folder}/answers-{name}.json"))["predictions"] for name in names]
assert all(len(a) == 1000 for a in answers), [len(a) for a in answers]
key = lambda p: (p["prediction"], p["status"])
same = sum(len({key(p) for p in row}) == 1 for row in zip(*answers))
print(f"the same 1000 listings: {same} identical answers from {', '.join(names)}")
assert same == 1000, same
