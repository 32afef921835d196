# A model of your own, priced (dollars per 1M tokens), and a task price
curl -s "$OMNIRELAY_BASE_URL/admin/models" \
  -H "Authorization: Bearer $OMNIRELAY_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"name": "acme-llama-70b", "kind": "chat", "family": "openai", "prices": {"input": 0.6, "output": 0.8}}'
echo
# Change some of its prices (the others stay)
curl -s -X PUT "$OMNIRELAY_BASE_URL/admin/models/acme-llama-70b/prices" \
  -H "Authorization: Bearer $OMNIRELAY_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"prices": {"output": 0.9}}'
echo
# Task prices (per task); here Kling's
curl -s "$OMNIRELAY_BASE_URL/admin/task-prices" -H "Authorization: Bearer $OMNIRELAY_ADMIN_KEY" \
  | jq -c '.data[] | select(.model == "kling-v1")'

