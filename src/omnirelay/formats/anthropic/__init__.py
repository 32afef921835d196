"""The Anthropic Messages wire family: structs and errors (wire), requests and answers
(messages), and event streams (stream), each to and from the neutral pivot."""
