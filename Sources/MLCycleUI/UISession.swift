import Crypto
import Foundation

/// Who may act in the UI. Logging in with the admin token sets a session cookie signed with a key derived from that
/// token (HttpOnly, SameSite=Strict, 12 hours), and every form carries a CSRF token signed for that session: no state
/// is kept on the server, so replicas sharing the token accept each other's sessions, and a new token ends them all.
struct UISession: Sendable {
    static let cookie = "mlcycle_session"
    static let lifetime: TimeInterval = 12 * 3600

    /// The signing key's bytes (Crypto's key type is not Sendable).
    private let keyBytes: [UInt8]
    private let tokenDigest: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    init(adminToken: String) {
        keyBytes = Array(SHA256.hash(data: Data(("mlcycle ui session|" + adminToken).utf8)))
        tokenDigest = Array(SHA256.hash(data: Data(adminToken.utf8)))
    }

    /// Whether `token` is the admin token (compared in constant time, as digests).
    func isAdminToken(_ token: String) -> Bool {
        let given = Array(SHA256.hash(data: Data(token.utf8)))
        return zip(given, tokenDigest).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    private func signature(_ text: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)).map { String(format: "%02x", $0) }
            .joined()
    }

    private func holds(_ signature: String, for text: String) -> Bool {
        guard signature.utf8.count == 64, let bytes = Self.bytes(hex: signature) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(bytes, authenticating: Data(text.utf8), using: key)
    }

    static func bytes(hex: String) -> [UInt8]? {
        var out = [UInt8]()
        var high: UInt8?
        for c in hex.utf8 {
            let v: UInt8
            switch c {
            case 48...57: v = c - 48
            case 97...102: v = c - 87
            default: return nil
            }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return high == nil ? out : nil
    }

    /// A new session's cookie value: when it ends, a random nonce, and their signature.
    func issue(now: Date = Date()) -> String {
        let nonce = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let body = "\(Int(now.addingTimeInterval(Self.lifetime).timeIntervalSince1970)).\(nonce)"
        return body + "." + signature(body)
    }

    /// Whether a cookie value is a session this key signed that has not ended.
    func isValid(_ value: String?, now: Date = Date()) -> Bool {
        guard let value, value.utf8.count < 200 else { return false }
        let parts = value.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let ends = Double(parts[0]), ends > now.timeIntervalSince1970 else { return false }
        return holds(parts[2], for: parts[0] + "." + parts[1])
    }

    /// The CSRF token of a session's forms.
    func csrf(for session: String) -> String { signature("csrf|" + session) }

    /// Whether a form's CSRF token is the one of this session.
    func isValidCSRF(_ token: String?, for session: String) -> Bool {
        guard let token else { return false }
        return holds(token, for: "csrf|" + session)
    }
}
