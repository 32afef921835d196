TASK_ID=$(curl -s "$OMNIRELAY_BASE_URL/suno/submit/lyrics" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"prompt": "a song about a lighthouse keeper"}' | jq -r '.data')
sleep 3
curl -s "$OMNIRELAY_BASE_URL/suno/fetch/$TASK_ID" -H "Authorization: Bearer $OMNIRELAY_KEY"
