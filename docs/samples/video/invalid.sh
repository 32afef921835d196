# A refused submission: HTTP 400, Kling's code 1201 naming the field; nothing is charged
curl -s -w "\nHTTP %{http_code}\n" "$OMNIRELAY_BASE_URL/kling/v1/videos/image2video" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"model_name": "kling-v1", "image": "https://example.com/cat.png", "mode": "std", "duration": "7"}'
