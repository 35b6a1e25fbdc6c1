import Foundation
import TestSupport
import Testing

@testable import SidecarInjector

@Suite("Fuzzing the AdmissionReview parser", Reliability.heavySuite)
struct AdmissionFuzzTests {
    @Test("The webhook answers every AdmissionReview body with 200 or 400")
    func admission() throws {
        let pods = try ["plain", "workload-identity", "job", "several-containers", "bad-annotation"].map {
            String(decoding: AdmissionFixtures.review(try AdmissionFixtures.pod($0)), as: UTF8.self)
        }
        var fuzzer = Fuzzer(
            seed: 17, seeds: pods,
            dictionary: [
                #"""#, "{", "}", ":", ",", "null", "[]", "{}", "mixedreality.azure.com/", "containers", "-", "~1", " ",
            ])
        let handler = AdmissionHandler(injector: Injector(settings: AdmissionFixtures.settings))
        let count = Reliability.count(ci: 10_000, full: 100_000)
        let slowest = fuzz(&fuzzer, count: count) { input in
            let answer = handler.answer(input)
            #expect(answer.status == 200 || answer.status == 400)
        }
        reportFuzz("admission", inputs: count, slowest: slowest)
    }
}
