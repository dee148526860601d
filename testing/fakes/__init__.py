"""Contract-faithful fakes of the systems the service calls over HTTP, as real servers on loopback.

`FakeLms` follows edx-enterprise's bulk enrollment and fulfillment cancel endpoints and the LMS's OAuth2
token endpoint; `FakeGeag` follows GetSmarter's Enterprise API Gateway. Each has fault modes, queued with
`fail_next(mode, times=1)`, and keeps what it was asked (`calls`) and what it holds (enrollments, orders).
"""
