TASK_ID=$(curl -s "$OMNIRELAY_BASE_URL/kling/v1/videos/text2video" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "model_name": "kling-v1-6",
    "prompt": "A paper boat drifting down a rainy street, cinematic",
    "negative_prompt": "blurry",
    "cfg_scale": 0.5,
    "mode": "std",
    "aspect_ratio": "16:9",
    "duration": "5",
    "camera_control": {"type": "simple", "config": {"zoom": 5}}
  }' | jq -r '.data.task_id')
echo "task: $TASK_ID"

while :; do
  STATUS=$(curl -s "$OMNIRELAY_BASE_URL/kling/v1/videos/text2video/$TASK_ID" \
    -H "Authorization: Bearer $OMNIRELAY_KEY" | jq -r '.data.task_status')
  echo "status: $STATUS"
  case "$STATUS" in succeed|failed) break ;; esac
  sleep 3
done
