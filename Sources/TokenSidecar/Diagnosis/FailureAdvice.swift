package import AzureCore
import AzureIdentity
import MixedRealityAuthentication
package import SidecarConfig

/// What went wrong, in which hop of the chain, and what to do about it: for the doctor, the
/// termination message and the logs. Never a secret.
package struct FailureAdvice: Sendable, Equatable {
    /// The hops, in the order a token travels.
    /// Where on the way from the config to the token file something is checked or failed: the
    /// `hop` of `doctor`'s checks and of `run --once`'s failures.
    package enum Hop: String, Sendable, CaseIterable, Encodable {
        case config, secrets
        case serviceAccountToken = "service-account-token"
        case network, entra, sts, output
        /// `doctor` only: the file compared with what the running sidecar applies.
        case running
    }

    package var hop: Hop
    /// The error's code (the metric label).
    package var code: String
    package var httpStatus: Int?
    package var aadstsCodes: [Int]
    package var message: String
    /// What to do.
    package var fix: String

    /// The roles the Mixed Reality services accept for a token (Access control (IAM) on the account).
    package static let roles =
        "Spatial Anchors Account Reader (or Contributor, Owner) for Spatial Anchors, Remote Rendering Client (or Administrator) for Remote Rendering"

    /// The advice for an error an exchange ended with.
    package init(_ error: any AzureError, credential: CredentialConfiguration.Kind? = nil) {
        code = error.metricLabel
        message = error.message
        httpStatus = nil
        aadstsCodes = []
        if let identity = error as? AzureIdentityError ?? (error.cause as? AzureIdentityError) {
            aadstsCodes = identity.aadstsCodes
            httpStatus = identity.httpStatus
            hop = .entra
            fix =
                aadstsCodes.lazy.compactMap(Self.aadstsFix).first
                ?? (identity.code == .credentialUnavailable
                    ? "the credential has nothing to work with here: check its AZURE_* variables, the token file or the managed identity endpoint"
                    : Self.genericFix(code))
            if let sts = error as? MixedRealityAuthenticationError, sts.httpStatus != nil {
                httpStatus = sts.httpStatus
            }
        } else if let sts = error as? MixedRealityAuthenticationError {
            httpStatus = sts.httpStatus
            hop = .sts
            fix = Self.stsFix(status: sts.httpStatus, code: code, accountKey: credential == .accountKey)
        } else {
            hop =
                switch code {
                case "secret_file": .secrets
                case "write_failed": .output
                case "configuration", "invalid_argument": .config
                default: .network
                }
            fix = Self.genericFix(code)
        }
        if hop == .sts || hop == .entra, ["transport", "timeout", "tls"].contains(code) { hop = .network }
    }

    package init(hop: Hop, code: String, message: String, fix: String, httpStatus: Int? = nil, aadstsCodes: [Int] = [])
    {
        self.hop = hop
        self.code = code
        self.message = message
        self.fix = fix
        self.httpStatus = httpStatus
        self.aadstsCodes = aadstsCodes
    }

    /// What an `AADSTS` code asks for, when it is one that configuration causes.
    package static func aadstsFix(_ code: Int) -> String? {
        switch code {
        case 700016:
            "the application (clientId) is not in the tenant (tenantId): check both, and that the app registration exists there"
        case 90002: "the tenant (tenantId) does not exist: copy the tenant id from the Entra ID overview"
        case 70021:
            "no federated credential of the application matches the service-account token: add one with the issuer, subject and audience the doctor prints"
        case 700211:
            "the federated credential's issuer is not the cluster's: use the cluster's OIDC issuer URL (az aks show --query oidcIssuerProfile.issuerUrl)"
        case 700212: "the federated credential's audience must be api://AzureADTokenExchange"
        case 700213:
            "the federated credential's subject must be system:serviceaccount:<namespace>:<service account> of this pod"
        case 700024:
            "the service-account token expired: the kubelet refreshes the projected token; check the pod's clock and that the volume is projected, not copied"
        case 7000215: "the client secret is wrong: put the secret's value (not its id) in the secret file"
        case 7000222: "the client secret expired: create a new one in the app registration and update the secret file"
        case 700027, 50013:
            "the assertion was refused: the certificate must be one of the app registration's (Certificates & secrets), and the clock right"
        case 7000218: "no secret or assertion was sent: check the credential's files"
        case 500011:
            "the tenant has no Mixed Reality service principal for the scope: check the scope, or register Microsoft.MixedReality in the subscription"
        case 1002012: "the scope is not valid: leave scope unset (https://sts.mixedreality.azure.com//.default)"
        case 50053: "the account is locked after too many sign-ins: wait, and fix the secret or certificate first"
        default: nil
        }
    }

    static func stsFix(status: Int?, code: String, accountKey: Bool) -> String {
        switch status {
        case 401:
            accountKey
                ? "the STS refused the account key: copy key 1 or key 2 from the account's Access keys in the Azure portal into the key file"
                : "the STS refused the Entra ID token: the identity must be in the account's tenant, and the scope https://sts.mixedreality.azure.com//.default"
        case 403: "the identity has no role on the account: in its Access control (IAM), assign \(roles)"
        case 404: "the account is not known at this STS: check accountId and accountDomain (the account's region)"
        case 429: "the STS throttles: the sidecar backs off; if it lasts, fewer pods should share the account"
        default: genericFix(code)
        }
    }

    static func genericFix(_ code: String) -> String {
        switch code {
        case "transport":
            "the host cannot be reached: check DNS, the egress NetworkPolicy and the proxy (HTTPS_PROXY, NO_PROXY)"
        case "timeout": "no answer in time: check the network path and the proxy"
        case "tls":
            "TLS failed: a proxy that intercepts TLS needs its CA in tls.caFile; otherwise check the host and the clock"
        case "insecure_transport": "use an https:// endpoint"
        case "bad_token", "bad_response":
            "the answer was not a usable token: check the endpoint (is it the Mixed Reality STS?) and the proxy"
        case "throttled": "throttled: the sidecar backs off and retries"
        case "service_error": "the service failed: the sidecar retries; if it lasts, see Azure status"
        case "secret_file": "the secret file cannot be read: check the Secret's mount and the file's path and mode"
        case "write_failed":
            "the token file cannot be written: the output folder must exist and be writable by the sidecar"
        case "configuration", "invalid_argument": "fix the config: mr-token-sidecar validate names the key"
        case "credential_unavailable": "the credential has nothing to work with here: check its variables and files"
        default: "see the error message"
        }
    }

    /// One line: `hop: code (HTTP 403, AADSTS700016): message. Fix: ...`.
    package var line: String {
        var details: [String] = []
        if let httpStatus { details.append("HTTP \(httpStatus)") }
        details += aadstsCodes.map { "AADSTS\($0)" }
        let codes = details.isEmpty ? code : "\(code) (\(details.joined(separator: ", ")))"
        return "\(hop.rawValue): \(codes): \(message). Fix: \(fix)"
    }
}
