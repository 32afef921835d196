# Imagine: the answer's "result" is the task id
TASK_ID=$(curl -s "$OMNIRELAY_BASE_URL/mj/submit/imagine" \
  -H "mj-api-secret: $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"prompt": "a lighthouse at dusk --ar 1:1"}' | jq -r '.result')
echo "task: $TASK_ID"

while :; do
  TASK=$(curl -s "$OMNIRELAY_BASE_URL/mj/task/$TASK_ID/fetch" -H "mj-api-secret: $OMNIRELAY_KEY")
  echo "$TASK" | jq -r '"\(.status) \(.progress)"'
  case "$(echo "$TASK" | jq -r .status)" in SUCCESS|FAILURE) break ;; esac
  sleep 3
done

# Upscale the second picture of the grid (U2), and download the grid
curl -s "$OMNIRELAY_BASE_URL/mj/submit/simple-change" \
  -H "mj-api-secret: $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d "{\"content\": \"$TASK_ID U2\"}"
echo
curl -s -o grid.png "$(echo "$TASK" | jq -r .imageUrl)"
ls -l grid.png
