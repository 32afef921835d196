TASK_ID=$(curl -s "$OMNIRELAY_BASE_URL/kling/v1/images/generations" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"model_name": "kling-v1", "prompt": "a lighthouse at dawn, watercolor", "n": 2, "aspect_ratio": "1:1"}' \
  | jq -r '.data.task_id')
echo "task: $TASK_ID"

while :; do
  TASK=$(curl -s "$OMNIRELAY_BASE_URL/kling/v1/images/generations/$TASK_ID" \
    -H "Authorization: Bearer $OMNIRELAY_KEY")
  STATUS=$(echo "$TASK" | jq -r '.data.task_status')
  echo "status: $STATUS"
  case "$STATUS" in succeed|failed) break ;; esac
  sleep 3
done
echo "$TASK" | jq -r '.data.task_result.images[].url'
