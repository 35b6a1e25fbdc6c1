import ProcessRuntime
import Testing

@Suite("The global executor: NIO's event loops on the Swift release the hooks were made for, the default one otherwise")
struct GlobalExecutorTests {
    @Test(
        "on another Swift release, or when MR_GLOBAL_EXECUTOR=dispatch asks, nothing is installed and the default executor runs"
    )
    func fallback() {
        // This test is compiled by the release of .swift-version, for which the hooks were made.
        #expect(GlobalExecutor.toolchainSupported)
        #expect(GlobalExecutor.installNIO(environment: [:], toolchainSupported: false) == .unsupportedToolchain)
        #expect(
            GlobalExecutor.installNIO(environment: ["MR_GLOBAL_EXECUTOR": "dispatch"], toolchainSupported: true)
                == .requestedDefault)
        #expect(GlobalExecutor.Installation.unsupportedToolchain.description.contains("default global executor"))
        // The test process itself runs on the default executor: nothing was installed here.
        #expect(GlobalExecutor.installation == .unsupportedToolchain, "the first outcome is the one kept")
    }
}
