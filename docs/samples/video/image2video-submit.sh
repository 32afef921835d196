curl -s "$OMNIRELAY_BASE_URL/kling/v1/videos/image2video" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "model_name": "kling-v1",
    "image": "https://p2.a.kwimgs.com/bs2/upload-ylab-stunt/ai_portal/1731125871/6N0QrAnAeU/409-f054fa25c21a.png",
    "prompt": "A girl sitting on a bench beside the street, smiling and shaking her hair",
    "mode": "std",
    "aspect_ratio": "1:1",
    "duration": "5"
  }'
