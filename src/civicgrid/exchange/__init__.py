"""The data-sharing exchange (部门—平台—部门): a graded catalogue, requests and grants on
the workflow kernel, reads with server-side masking, and yes/no questions answered
without revealing the data (免证明)."""
