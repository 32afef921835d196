curl -s "$OMNIRELAY_BASE_URL/ideogram/generate" \
  -H "Api-Key: $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "image_request": {
      "prompt": "a red kite over a beach",
      "model": "V_2",
      "resolution": "RESOLUTION_1280_768",
      "num_images": 2
    }
  }'
