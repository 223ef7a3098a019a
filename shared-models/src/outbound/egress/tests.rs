use super::*;

fn class(raw: &str) -> Option<AddressClass> {
    classify(raw.parse().unwrap())
}

#[test]
fn every_non_public_v4_range_is_named() {
    use AddressClass::*;
    let cases = [
        ("0.0.0.0", Unspecified),
        ("0.1.2.3", ThisNetwork),
        ("127.0.0.1", Loopback),
        ("127.255.0.9", Loopback),
        ("10.0.0.1", Private),
        ("172.16.0.1", Private),
        ("172.31.255.255", Private),
        ("192.168.1.1", Private),
        ("169.254.169.254", CloudMetadata),
        ("169.254.0.1", LinkLocal),
        ("100.64.0.1", SharedAddressSpace),
        ("100.127.255.255", SharedAddressSpace),
        ("224.0.0.1", Multicast),
        ("239.255.255.250", Multicast),
        ("255.255.255.255", Broadcast),
        ("240.0.0.1", Reserved),
        ("192.0.2.7", Documentation),
        ("198.51.100.7", Documentation),
        ("203.0.113.7", Documentation),
        ("198.18.0.1", Benchmarking),
        ("198.19.255.1", Benchmarking),
        ("192.0.0.8", ProtocolAssignments),
    ];
    for (ip, expected) in cases {
        assert_eq!(class(ip), Some(expected), "{ip}");
    }
    for public in [
        "8.8.8.8",
        "1.1.1.1",
        "172.32.0.1",
        "100.128.0.1",
        "172.15.255.255",
        "93.184.216.34",
    ] {
        assert_eq!(class(public), None, "{public}");
    }
}

#[test]
fn every_non_public_v6_range_is_named() {
    use AddressClass::*;
    let cases = [
        ("::", Unspecified),
        ("::1", Loopback),
        ("fc00::1", UniqueLocal),
        ("fd12:3456::1", UniqueLocal),
        ("fd00:ec2::254", CloudMetadata),
        ("fe80::1", LinkLocal),
        ("fec0::1", SiteLocal),
        ("ff02::1", Multicast),
        ("2001:db8::1", Documentation),
        ("3fff::1", Documentation),
        ("2001::1", ProtocolAssignments),
        ("100::1", DiscardOnly),
        ("64:ff9b:1::1", LocalNat64),
        ("::127.0.0.1", Reserved),
        ("4000::1", Reserved),
    ];
    for (ip, expected) in cases {
        assert_eq!(class(ip), Some(expected), "{ip}");
    }
    for public in ["2606:4700:4700::1111", "2a00:1450:4001::200e"] {
        assert_eq!(class(public), None, "{public}");
    }
}

#[test]
fn ipv4_inside_ipv6_is_judged_as_ipv4() {
    use AddressClass::*;
    assert_eq!(class("::ffff:127.0.0.1"), Some(Loopback));
    assert_eq!(class("::ffff:169.254.169.254"), Some(CloudMetadata));
    assert_eq!(class("64:ff9b::10.0.0.1"), Some(Private));
    // 6to4: 2002:c0a8:0101:: carries 192.168.1.1.
    assert_eq!(class("2002:c0a8:101::1"), Some(Private));
    assert_eq!(class("2002:7f00:1::"), Some(Loopback));
    assert_eq!(class("::ffff:8.8.8.8"), None);
    assert_eq!(class("64:ff9b::808:808"), None);
    assert_eq!(class("2002:808:808::1"), None);
}

#[test]
fn entries_parse_or_name_the_bad_one() {
    let entries = [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1",
        "[fd00::1]",
        "Relay.Internal.",
        "fd00::/8",
    ]
    .map(str::to_owned);
    let policy = EgressPolicy::from_entries(&entries).unwrap();
    assert!(policy.hosts.contains("relay.internal"));
    assert_eq!(policy.nets.len(), 5);
    for bad in [
        "10.0.0.0/33",
        "*.example.com",
        "exa mple.com",
        "host/8",
        "-bad.example",
    ] {
        let err = EgressPolicy::from_entries(&[bad.to_owned()]).unwrap_err();
        assert!(
            matches!(&err, EgressError::InvalidEntry { entry, .. } if entry == bad),
            "{bad}"
        );
        assert!(err.to_string().contains(bad), "{err}");
    }
}

#[test]
fn allowlisted_nets_cover_their_embedded_forms() {
    let policy = EgressPolicy::from_entries(&["127.0.0.1/32".to_owned()]).unwrap();
    assert!(
        policy
            .judge("x", false, "127.0.0.1".parse().unwrap())
            .unwrap()
    );
    assert!(
        policy
            .judge("x", false, "::ffff:127.0.0.1".parse().unwrap())
            .unwrap()
    );
    assert!(
        !policy
            .judge("x", false, "8.8.8.8".parse().unwrap())
            .unwrap()
    );
    let err = policy
        .judge("x", false, "127.0.0.2".parse().unwrap())
        .unwrap_err();
    assert!(matches!(
        err,
        EgressError::Forbidden {
            class: AddressClass::Loopback,
            ..
        }
    ));
}

proptest::proptest! {
    #[test]
    fn every_ipv6_wrapping_of_an_ipv4_address_is_judged_alike(bits: u32) {
        let v4 = Ipv4Addr::from(bits);
        let expected = classify_v4(v4);
        let mapped = v4.to_ipv6_mapped();
        let nat64 = Ipv6Addr::from((0x0064_ff9b_u128 << 96) | u128::from(bits));
        let six_to_four = Ipv6Addr::from((0x2002_u128 << 112) | (u128::from(bits) << 80) | 1);
        for wrapped in [mapped, nat64, six_to_four] {
            proptest::prop_assert_eq!(classify(IpAddr::V6(wrapped)), expected, "{}", wrapped);
        }
    }
}

#[test]
fn refusals_read_as_a_sentence() {
    let named = EgressError::Forbidden {
        host: "db.internal".to_owned(),
        address: "10.1.2.3".parse().unwrap(),
        class: AddressClass::Private,
        embedded: None,
    };
    assert!(
        named.to_string().starts_with(
            "db.internal resolves to 10.1.2.3, a private address, which notifications may not reach"
        ),
        "{named}"
    );
    let literal = EgressError::Forbidden {
        host: "::ffff:127.0.0.1".to_owned(),
        address: "::ffff:127.0.0.1".parse().unwrap(),
        class: AddressClass::Loopback,
        embedded: Some(Ipv4Addr::LOCALHOST),
    };
    assert!(
        literal
            .to_string()
            .starts_with("::ffff:127.0.0.1 (IPv4 127.0.0.1) is a loopback address, which"),
        "{literal}"
    );
}

#[tokio::test]
async fn literal_urls_are_judged_without_dns() {
    let open = EgressPolicy::default();
    let err = open
        .check_url("https://[::ffff:127.0.0.1]/hook?token=s3cret")
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("loopback") && shown.contains("::ffff:127.0.0.1"),
        "{shown}"
    );
    assert!(
        !shown.contains("s3cret") && !shown.contains("hook"),
        "{shown}"
    );
    // WHATWG parsing turns these spellings into 127.0.0.1.
    for sneaky in [
        "https://2130706433/",
        "https://0x7f.0.0.1/",
        "https://127.1/",
    ] {
        let err = open.check_url(sneaky).await.unwrap_err();
        assert!(
            matches!(
                err,
                EgressError::Forbidden {
                    class: AddressClass::Loopback,
                    ..
                }
            ),
            "{sneaky}: {err}"
        );
    }
    let err = open
        .check_url("https://169.254.169.254/latest/meta-data/")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("169.254.169.254 is a cloud metadata address"),
        "{err}"
    );
    open.check_url("https://93.184.216.34/hook").await.unwrap();
}

#[tokio::test]
async fn plain_http_needs_the_allowlist() {
    let open = EgressPolicy::default();
    let err = open
        .check_url("http://93.184.216.34/hook")
        .await
        .unwrap_err();
    assert!(matches!(err, EgressError::PlainHttp { .. }), "{err}");
    let err = open.check_url("ftp://93.184.216.34/").await.unwrap_err();
    assert!(matches!(err, EgressError::Scheme { .. }), "{err}");
    let listed = EgressPolicy::from_entries(&["93.184.216.0/24".to_owned()]).unwrap();
    listed.check_url("http://93.184.216.34/hook").await.unwrap();
    let err = open
        .check_smtp("93.184.216.34", 25, false)
        .await
        .unwrap_err();
    assert!(matches!(err, EgressError::PlainSmtp { .. }), "{err}");
    open.check_smtp("93.184.216.34", 465, true).await.unwrap();
    listed.check_smtp("93.184.216.34", 25, false).await.unwrap();
    let err = open.check_smtp("[::1]", 465, true).await.unwrap_err();
    assert!(
        matches!(
            err,
            EgressError::Forbidden {
                class: AddressClass::Loopback,
                ..
            }
        ),
        "{err}"
    );
}
