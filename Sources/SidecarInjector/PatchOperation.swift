package import AzureCore

/// One RFC 6902 operation. The injector only ever adds.
package struct PatchOperation: Encodable, Sendable, Hashable {
    package var op: String
    package var path: String
    package var value: JSONValue

    package static func add(_ path: String, _ value: JSONValue) -> PatchOperation {
        PatchOperation(op: "add", path: path, value: value)
    }

    /// One RFC 6901 reference token: `~` becomes `~0` and `/` becomes `~1`.
    package static func escape(_ token: String) -> String {
        token.replacing("~", with: "~0").replacing("/", with: "~1")
    }
}
