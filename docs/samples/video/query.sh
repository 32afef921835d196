# Submit one, then query it: the id is data.task_id of the submission's answer
TASK_ID=$(curl -s "$OMNIRELAY_BASE_URL/kling/v1/videos/text2video" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"model_name": "kling-v1", "prompt": "a kite in the wind"}' | jq -r '.data.task_id')

# Query until it has ended, then show the whole task
until curl -s "$OMNIRELAY_BASE_URL/kling/v1/videos/text2video/$TASK_ID" \
    -H "Authorization: Bearer $OMNIRELAY_KEY" | jq -e '.data.task_status | test("succeed|failed")' >/dev/null; do
  sleep 3
done
curl -s "$OMNIRELAY_BASE_URL/kling/v1/videos/text2video/$TASK_ID" \
  -H "Authorization: Bearer $OMNIRELAY_KEY"
