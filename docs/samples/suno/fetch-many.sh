# Several tasks at once (yours only, in the order asked; unknown ids are left out)
A=$(curl -s "$OMNIRELAY_BASE_URL/suno/submit/lyrics" -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" -d '{"prompt": "rain"}' | jq -r .data)
B=$(curl -s "$OMNIRELAY_BASE_URL/suno/submit/lyrics" -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" -d '{"prompt": "snow"}' | jq -r .data)
curl -s "$OMNIRELAY_BASE_URL/suno/fetch" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d "{\"ids\": [\"$A\", \"$B\", \"not-a-task\"], \"action\": \"LYRICS\"}"
